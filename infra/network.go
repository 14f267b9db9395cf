package main

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsrds"
	"github.com/aws/jsii-runtime-go"

	"github.com/stepship/stepship/shared/catalog"
)

// The drill network of a DR stack: an isolated VPC (no internet gateway, no
// NAT, nothing routed but the VPC itself) in which drills restore databases
// and the dr-verify function reaches them, and AWS APIs only through VPC
// endpoints.
const (
	// drillVPCCIDR and its two subnets, one per availability zone (RDS
	// subnet groups need two).
	drillVPCCIDR = "10.64.0.0/16"
	// postgresPort is what dr-verify connects to (it checks PostgreSQL).
	postgresPort = 5432
)

var drillSubnetCIDRs = []string{"10.64.0.0/24", "10.64.1.0/24"}

// drillNetwork is what newDrillNetwork defines.
type drillNetwork struct {
	VPC     awsec2.CfnVPC
	Subnets []awsec2.CfnSubnet
	// vpc is the VPC as the L2 constructs take it.
	vpc awsec2.IVpc
	// SubnetGroups are the DB subnet groups the catalog's drills name, by name.
	SubnetGroups map[string]awsrds.CfnDBSubnetGroup
	// DrillSecurityGroup is the restored databases' when the catalog names
	// none: it admits dr-verify on the PostgreSQL port, and nothing else.
	DrillSecurityGroup awsec2.SecurityGroup
	// VerifySecurityGroup is dr-verify's: out to the restored databases and
	// the Secrets Manager endpoint only.
	VerifySecurityGroup awsec2.SecurityGroup
	// SecretsEndpoint is the Secrets Manager interface endpoint dr-verify
	// reads the database secrets' replicas through.
	SecretsEndpoint awsec2.InterfaceVpcEndpoint
}

// newDrillNetwork defines the drill network of a DR stack for the drills of
// targets in its region. The VPC and its subnets are L1 resources whose
// availability zones are Fn::GetAZs picks: the L2 VPC would look the zones
// up, and the synth is offline.
func newDrillNetwork(stack awscdk.Stack, targets []catalog.Target, key awskms.Key, retention awslogs.RetentionDays) *drillNetwork {
	n := &drillNetwork{SubnetGroups: map[string]awsrds.CfnDBSubnetGroup{}}
	n.VPC = awsec2.NewCfnVPC(stack, jsii.String("DrillVpc"), &awsec2.CfnVPCProps{
		CidrBlock: jsii.String(drillVPCCIDR), EnableDnsSupport: jsii.Bool(true), EnableDnsHostnames: jsii.Bool(true),
		Tags: &[]*awscdk.CfnTag{{Key: jsii.String("Name"), Value: jsii.String(*stack.StackName() + "-drill")}},
	})
	routes := awsec2.NewCfnRouteTable(stack, jsii.String("DrillRouteTable"), &awsec2.CfnRouteTableProps{VpcId: n.VPC.AttrVpcId()})
	var ids, azs []*string
	for i, cidr := range drillSubnetCIDRs {
		az := awscdk.Fn_Select(jsii.Number(i), awscdk.Fn_GetAzs(jsii.String("")))
		subnet := awsec2.NewCfnSubnet(stack, jsii.String(fmt.Sprintf("DrillSubnet%d", i+1)), &awsec2.CfnSubnetProps{
			VpcId: n.VPC.AttrVpcId(), CidrBlock: jsii.String(cidr), AvailabilityZone: az, MapPublicIpOnLaunch: jsii.Bool(false),
		})
		awsec2.NewCfnSubnetRouteTableAssociation(stack, jsii.String(fmt.Sprintf("DrillSubnet%dRoutes", i+1)), &awsec2.CfnSubnetRouteTableAssociationProps{
			SubnetId: subnet.AttrSubnetId(), RouteTableId: routes.AttrRouteTableId(),
		})
		n.Subnets = append(n.Subnets, subnet)
		ids, azs = append(ids, subnet.AttrSubnetId()), append(azs, az)
	}
	n.vpc = awsec2.Vpc_FromVpcAttributes(stack, jsii.String("DrillVpcView"), &awsec2.VpcAttributes{
		VpcId: n.VPC.AttrVpcId(), AvailabilityZones: &azs, IsolatedSubnetIds: &ids, VpcCidrBlock: jsii.String(drillVPCCIDR),
		IsolatedSubnetRouteTableIds: &[]*string{routes.AttrRouteTableId(), routes.AttrRouteTableId()},
	})

	flowLogs := awslogs.NewLogGroup(stack, jsii.String("DrillVpcFlowLogs"), &awslogs.LogGroupProps{Retention: retention, EncryptionKey: key})
	awsec2.NewFlowLog(stack, jsii.String("DrillVpcFlowLog"), &awsec2.FlowLogProps{
		ResourceType: awsec2.FlowLogResourceType_FromVpc(n.vpc),
		Destination:  awsec2.FlowLogDestination_ToCloudWatchLogs(flowLogs, nil),
		TrafficType:  awsec2.FlowLogTrafficType_ALL,
	})

	sg := func(id, description string) awsec2.SecurityGroup {
		return awsec2.NewSecurityGroup(stack, jsii.String(id), &awsec2.SecurityGroupProps{
			Vpc: n.vpc, AllowAllOutbound: jsii.Bool(false), Description: jsii.String(description),
		})
	}
	n.VerifySecurityGroup = sg("DrVerifySecurityGroup", "stepship dr-verify: out to the restored databases and the Secrets Manager endpoint only")
	n.DrillSecurityGroup = sg("DrillSecurityGroup", "stepship drill databases: in from dr-verify only")
	endpointSG := sg("SecretsEndpointSecurityGroup", "stepship Secrets Manager endpoint: in from dr-verify only")
	n.VerifySecurityGroup.Connections().AllowTo(endpointSG, awsec2.Port_Tcp(jsii.Number(443)), jsii.String("dr-verify reads the database secrets"))
	n.VerifySecurityGroup.Connections().AllowTo(n.DrillSecurityGroup, awsec2.Port_Tcp(jsii.Number(postgresPort)), jsii.String("dr-verify checks the restored database"))
	n.SecretsEndpoint = awsec2.NewInterfaceVpcEndpoint(stack, jsii.String("SecretsManagerEndpoint"), &awsec2.InterfaceVpcEndpointProps{
		Vpc: n.vpc, Service: awsec2.InterfaceVpcEndpointAwsService_SECRETS_MANAGER(), PrivateDnsEnabled: jsii.Bool(true),
		Open: jsii.Bool(false), SecurityGroups: &[]awsec2.ISecurityGroup{endpointSG},
		Subnets: &awsec2.SubnetSelection{SubnetType: awsec2.SubnetType_PRIVATE_ISOLATED},
	})

	subnetIDs := make([]any, len(ids))
	for i, id := range ids {
		subnetIDs[i] = id
	}
	for i, t := range targets {
		if t.Drill.SecurityGroup != "" {
			// The catalog's own drill security group (in this VPC): opened to dr-verify.
			own := awsec2.SecurityGroup_FromSecurityGroupId(stack, jsii.String(fmt.Sprintf("CatalogDrillSecurityGroup%d", i)), jsii.String(t.Drill.SecurityGroup),
				&awsec2.SecurityGroupImportOptions{Mutable: jsii.Bool(true), AllowAllOutbound: jsii.Bool(false)})
			n.VerifySecurityGroup.Connections().AllowTo(own, awsec2.Port_Tcp(jsii.Number(postgresPort)),
				jsii.String(fmt.Sprintf("dr-verify checks the drills of %s/%s", t.Service, t.Environment)))
		}
		name := t.Drill.SubnetGroup
		if _, ok := n.SubnetGroups[name]; ok {
			continue
		}
		n.SubnetGroups[name] = awsrds.NewCfnDBSubnetGroup(stack, jsii.String("DrillSubnetGroup"+pascalName(name)), &awsrds.CfnDBSubnetGroupProps{
			DbSubnetGroupName:        jsii.String(name),
			DbSubnetGroupDescription: jsii.String("stepship drills: isolated subnets, no route out of the VPC"),
			SubnetIds:                &subnetIDs,
		})
	}
	return n
}

// subnetIDs are the drill subnets' ids.
func (n *drillNetwork) subnetIDs() *[]*string {
	var ids []*string
	for _, s := range n.Subnets {
		ids = append(ids, s.AttrSubnetId())
	}
	return &ids
}

// attach puts a function in the drill subnets with the security group.
func (n *drillNetwork) attach(stack awscdk.Stack, fn awslambda.Function, sg awsec2.SecurityGroup) {
	putInNetwork(stack, fn, *n.subnetIDs(), []*string{sg.SecurityGroupId()}, "TheDrillSubnets")
}

// putInNetwork puts a function in subnets with security groups, and lets its
// role manage the network interfaces Lambda creates there: create them only
// in those subnets with those groups, delete and address only network
// interfaces (their ids are not known in advance; the Describe actions
// support no resource-level permissions). The function's L2 Vpc property
// would need the VPC looked up and would add the
// AWSLambdaVPCAccessExecutionRole managed policy. where ends the first
// statement's Sid ("CreateInterfacesIn"+where).
func putInNetwork(stack awscdk.Stack, fn awslambda.Function, subnets, groups []*string, where string) {
	fn.Node().DefaultChild().(awslambda.CfnFunction).SetVpcConfig(&awslambda.CfnFunction_VpcConfigProperty{
		SubnetIds: &subnets, SecurityGroupIds: &groups,
	})
	arn := func(resource string, name *string) *string {
		c := &awscdk.ArnComponents{Service: jsii.String("ec2"), Resource: jsii.String(resource), ArnFormat: awscdk.ArnFormat_NO_RESOURCE_NAME}
		if name != nil {
			c.ResourceName, c.ArnFormat = name, awscdk.ArnFormat_SLASH_RESOURCE_NAME
		}
		return stack.FormatArn(c)
	}
	interfaces := arn("network-interface/*", nil)
	create := []*string{interfaces}
	for _, g := range groups {
		create = append(create, arn("security-group", g))
	}
	for _, s := range subnets {
		create = append(create, arn("subnet", s))
	}
	for _, st := range []*awsiam.PolicyStatementProps{
		{Sid: jsii.String("CreateInterfacesIn" + where), Actions: jsii.Strings("ec2:CreateNetworkInterface"), Resources: &create},
		{Sid: jsii.String("ManageItsInterfaces"), Actions: jsii.Strings("ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"),
			Resources: &[]*string{interfaces}},
		{Sid: jsii.String("DescribeInterfaces"), Actions: jsii.Strings("ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"), Resources: jsii.Strings("*")},
	} {
		fn.AddToRolePolicy(awsiam.NewPolicyStatement(st))
	}
}

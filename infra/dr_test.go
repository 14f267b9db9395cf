package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/stepship/stepship/shared/backup"
	"github.com/stepship/stepship/shared/catalog"
	"github.com/stepship/stepship/shared/config"
	"github.com/stepship/stepship/shared/payload"
)

// drFixture is the DR stack of us-west-2, where the test catalog's drills run.
func drFixture(t *testing.T) *fixture {
	t.Helper()
	f := synthesized(t)
	dr, ok := f.dr["us-west-2"]
	if !ok {
		t.Fatalf("no DR stack in us-west-2 (have %v)", keys(f.dr))
	}
	return dr
}

func TestThereIsADRStackInEachRegionTheCatalogDrillsIn(t *testing.T) {
	// GIVEN the test catalog: drills in us-west-2, copies without drills in eu-west-1
	f := synthesized(t)

	// WHEN the stacks are listed
	// THEN there is one DR stack, in us-west-2, named after the home stack,
	// with the restore and dr-verify functions; the home stack has neither
	if got := keys(f.dr); !slices.Equal(got, []string{"us-west-2"}) {
		t.Errorf("DR stacks in %v, want us-west-2 only", got)
	}
	d := f.drStacks["us-west-2"]
	if *d.StackName() != "Stepship-dr-us-west-2" || *d.Stack.Region() != "us-west-2" || *d.Stack.Account() != "123456789012" {
		t.Errorf("DR stack %s in %s/%s", *d.StackName(), *d.Stack.Account(), *d.Stack.Region())
	}
	if got := keys(d.Functions); !slices.Equal(got, []string{"dr-verify", "restore"}) {
		t.Errorf("DR functions %v", got)
	}
	for id, fn := range f.dr["us-west-2"].resources("AWS::Lambda::Function") {
		if p := props(fn); fmt.Sprint(p["Architectures"]) != "[arm64]" || p["Runtime"] != "provided.al2023" || p["Handler"] != "bootstrap" ||
			fmt.Sprint(p["TracingConfig"]) != "map[Mode:Active]" {
			t.Errorf("DR function %s: %v %v %v %v", id, p["Architectures"], p["Runtime"], p["Handler"], p["TracingConfig"])
		}
	}
	for _, name := range []string{"restore", "dr-verify"} {
		if _, ok := f.stack.Functions[name]; ok {
			t.Errorf("the home stack has the %s function", name)
		}
	}
}

func TestTheDrillNetworkHasNoWayOut(t *testing.T) {
	// GIVEN the DR stack
	dr := drFixture(t)

	// WHEN its network resources are read
	// THEN nothing leads out of the VPC: no internet or NAT gateway, no
	// route but the VPC's own, no public address on launch, and its traffic
	// is logged
	for _, typ := range []string{"AWS::EC2::InternetGateway", "AWS::EC2::NatGateway", "AWS::EC2::EgressOnlyInternetGateway",
		"AWS::EC2::VPCGatewayAttachment", "AWS::EC2::Route", "AWS::EC2::TransitGatewayAttachment", "AWS::EC2::VPCPeeringConnection", "AWS::EC2::EIP"} {
		if n := len(dr.resources(typ)); n != 0 {
			t.Errorf("the DR stack has %d %s", n, typ)
		}
	}
	const vpc = "DrillVpc" // an L1 resource: its logical id is its construct id
	if _, ok := dr.resources("AWS::EC2::VPC")[vpc]; !ok || len(dr.resources("AWS::EC2::VPC")) != 1 {
		t.Fatalf("VPCs %v", keys(dr.resources("AWS::EC2::VPC")))
	}
	subnets := dr.resources("AWS::EC2::Subnet")
	if len(subnets) != 2 {
		t.Errorf("want two drill subnets, got %d", len(subnets))
	}
	for id, s := range subnets {
		if props(s)["MapPublicIpOnLaunch"] != false || fmt.Sprint(props(s)["VpcId"]) != fmt.Sprint(map[string]any{"Fn::GetAtt": []any{vpc, "VpcId"}}) {
			t.Errorf("subnet %s: %v", id, props(s))
		}
	}
	holds(t, "flow log", func() {
		dr.template.HasResourceProperties(jsii.String("AWS::EC2::FlowLog"), map[string]any{
			"ResourceId": map[string]any{"Fn::GetAtt": []any{vpc, "VpcId"}}, "ResourceType": "VPC", "TrafficType": "ALL",
		})
	})

	// AND the DB subnet groups the catalog names are over the drill subnets
	groups := map[string]string{}
	for _, g := range dr.resources("AWS::RDS::DBSubnetGroup") {
		groups[props(g)["DBSubnetGroupName"].(string)] = fmt.Sprint(props(g)["SubnetIds"])
	}
	want := fmt.Sprint([]any{map[string]any{"Fn::GetAtt": []any{"DrillSubnet1", "SubnetId"}}, map[string]any{"Fn::GetAtt": []any{"DrillSubnet2", "SubnetId"}}})
	for _, name := range []string{"stepship-drill", "stepship-drill-aurora"} {
		if groups[name] != want {
			t.Errorf("subnet group %s: %s, want %s", name, groups[name], want)
		}
	}
	if len(groups) != 2 {
		t.Errorf("subnet groups %v", groups)
	}
}

func TestDrVerifyRunsInTheDrillVPCAndReachesOnlyTheDatabasesAndSecretsManager(t *testing.T) {
	// GIVEN the DR stack
	dr := drFixture(t)
	verifySG := dr.logicalID(t, "AWS::EC2::SecurityGroup", "DrVerifySecurityGroup")
	drillSG := dr.logicalID(t, "AWS::EC2::SecurityGroup", "DrillSecurityGroup")
	endpointSG := dr.logicalID(t, "AWS::EC2::SecurityGroup", "SecretsEndpointSecurityGroup")
	sgRef := func(id string) string { return fmt.Sprint(map[string]any{"Fn::GetAtt": []any{id, "GroupId"}}) }

	// WHEN the dr-verify function and the security groups are read
	fn := props(dr.resources("AWS::Lambda::Function")[dr.logicalID(t, "AWS::Lambda::Function", "DrVerifyFunction")])

	// THEN dr-verify is in the drill subnets with its own security group
	if got, want := fmt.Sprint(fn["VpcConfig"]), fmt.Sprint(map[string]any{
		"SecurityGroupIds": []any{map[string]any{"Fn::GetAtt": []any{verifySG, "GroupId"}}},
		"SubnetIds":        []any{map[string]any{"Fn::GetAtt": []any{"DrillSubnet1", "SubnetId"}}, map[string]any{"Fn::GetAtt": []any{"DrillSubnet2", "SubnetId"}}},
	}); got != want {
		t.Errorf("dr-verify VpcConfig %s, want %s", got, want)
	}
	// AND its security group lets it out only to the databases (PostgreSQL)
	// and the endpoint (HTTPS), each of which lets in only it
	egress := map[string]bool{}
	for _, e := range dr.resources("AWS::EC2::SecurityGroupEgress") {
		p := props(e)
		if fmt.Sprint(p["GroupId"]) != sgRef(verifySG) {
			t.Errorf("egress of another group: %v", p)
		}
		egress[fmt.Sprintf("%v:%v", p["DestinationSecurityGroupId"], p["FromPort"])] = p["FromPort"] == p["ToPort"]
	}
	for _, want := range []string{sgRef(endpointSG) + ":443", sgRef(drillSG) + ":5432", "sg-0123456789abcdef0:5432"} {
		if !egress[want] {
			t.Errorf("dr-verify cannot reach %s (egress %v)", want, egress)
		}
	}
	if len(egress) != 3 {
		t.Errorf("dr-verify egress %v", egress)
	}
	for _, in := range dr.resources("AWS::EC2::SecurityGroupIngress") {
		p := props(in)
		if fmt.Sprint(p["SourceSecurityGroupId"]) != sgRef(verifySG) || p["CidrIp"] != nil || p["FromPort"] != p["ToPort"] {
			t.Errorf("ingress from anything but dr-verify on one port: %v", p)
		}
	}
	for id, sg := range dr.resources("AWS::EC2::SecurityGroup") {
		for _, rule := range asList(props(sg)["SecurityGroupIngress"]) {
			t.Errorf("security group %s admits %v inline", id, rule)
		}
		for _, rule := range asList(props(sg)["SecurityGroupEgress"]) {
			if r := rule.(map[string]any); r["CidrIp"] != "255.255.255.255/32" {
				t.Errorf("security group %s lets out %v", id, r)
			}
		}
	}
	// AND the restore function restores into the drill security group when
	// the catalog names none
	restore := props(dr.resources("AWS::Lambda::Function")[dr.logicalID(t, "AWS::Lambda::Function", "RestoreFunction")])
	if got := fmt.Sprint(restore["Environment"].(map[string]any)["Variables"].(map[string]any)[config.EnvDrillSecurityGroup]); got != sgRef(drillSG) {
		t.Errorf("restore %s = %s, want the drill security group", config.EnvDrillSecurityGroup, got)
	}
	if _, ok := restore["VpcConfig"]; ok {
		t.Error("the restore function is in the VPC: it only calls RDS")
	}
}

func TestDrVerifyReadsOnlyTheSecretsReplicasThroughTheEndpoint(t *testing.T) {
	// GIVEN the DR stack and the catalog's secrets' replicas in us-west-2
	dr := drFixture(t)
	var replicas []string
	for _, tg := range testCatalog(t).Targets() {
		if tg.Drill != nil {
			r, err := backup.SecretReplica(tg.Database.Secret, "us-west-2")
			if err != nil {
				t.Fatal(err)
			}
			replicas = append(replicas, r)
		}
	}
	slices.Sort(replicas)
	role := dr.logicalID(t, "AWS::IAM::Role", "DrVerifyFunctionRole")
	endpoint := dr.logicalID(t, "AWS::EC2::VPCEndpoint", "SecretsManagerEndpoint")

	// WHEN the role's and the endpoint's policies are read
	// THEN dr-verify may read exactly the replicas, only through the
	// endpoint; the endpoint lets exactly it read exactly them, with private
	// DNS so that the SDK's regional endpoint resolves to it
	var reads int
	for _, st := range dr.statementsOf(role) {
		if !strings.Contains(fmt.Sprint(st["Action"]), "secretsmanager:") {
			continue
		}
		reads++
		if fmt.Sprint(st["Action"]) != "secretsmanager:GetSecretValue" || fmt.Sprint(asList(st["Resource"])) != fmt.Sprint(asAny(replicas)) ||
			fmt.Sprint(st["Condition"]) != fmt.Sprint(map[string]any{"StringEquals": map[string]any{"aws:SourceVpce": map[string]any{"Ref": endpoint}}}) {
			t.Errorf("dr-verify: %v on %v if %v, want GetSecretValue on %v through the endpoint", st["Action"], st["Resource"], st["Condition"], replicas)
		}
	}
	if reads != 1 {
		t.Errorf("want one Secrets Manager statement, got %d", reads)
	}
	ep := props(dr.resources("AWS::EC2::VPCEndpoint")[endpoint])
	if ep["PrivateDnsEnabled"] != true || ep["ServiceName"] != "com.amazonaws.us-west-2.secretsmanager" {
		t.Errorf("endpoint %v", ep)
	}
	policy := statementsIn(map[string]any{"PolicyDocument": ep["PolicyDocument"]})
	if len(policy) != 1 || fmt.Sprint(policy[0]["Principal"]) != fmt.Sprint(map[string]any{"AWS": map[string]any{"Fn::GetAtt": []any{role, "Arn"}}}) ||
		fmt.Sprint(asList(policy[0]["Resource"])) != fmt.Sprint(asAny(replicas)) || policy[0]["Action"] != "secretsmanager:GetSecretValue" {
		t.Errorf("endpoint policy %v", policy)
	}
	if len(dr.resources("AWS::EC2::VPCEndpoint")) != 1 {
		t.Error("want the Secrets Manager endpoint only")
	}
}

func asAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

func TestTheRestoreFunctionReachesOnlyTheCatalogsCopiesAndDeletesOnlyDrills(t *testing.T) {
	// GIVEN the DR stack
	dr := drFixture(t)
	role := dr.logicalID(t, "AWS::IAM::Role", "RestoreFunctionRole")

	// WHEN the restore function's and the drill state machine's statements are read
	// THEN every RDS resource is a catalog database's copy, its restored
	// databases, its drill subnet group or a default group of the DR
	// region; keys are the catalog's DR key through RDS
	for _, r := range []string{"RestoreFunctionRole", "DrillStateMachineRole", "DrVerifyFunctionRole"} {
		assertScoped(t, dr, "us-west-2", r, allowedRDS(t, "us-west-2"))
	}
	bySid := map[string]map[string]any{}
	for _, st := range dr.statementsOf(role) {
		if sid, ok := st["Sid"].(string); ok {
			bySid[sid] = st
		}
	}
	// AND it deletes only a drill's database (never a failover's, never the
	// catalog's), tagged as a drill's
	del := bySid["DeleteOnlyADrillsDatabase"]
	for _, r := range asList(del["Resource"]) {
		if !strings.Contains(fmt.Sprint(r), ":drill-") {
			t.Errorf("may delete %v", r)
		}
	}
	if got := fmt.Sprint(del["Condition"]); got != "map[StringEquals:map[aws:ResourceTag/"+backup.TagPurpose+":"+string(payload.ModeDrill)+"]]" {
		t.Errorf("delete condition %s", got)
	}
	// AND of a copy's tags it writes and removes only the in-use mark
	if got := fmt.Sprint(bySid["MarkTheCopyInUse"]["Condition"]); got != "map[ForAllValues:StringEquals:map[aws:TagKeys:["+backup.TagInUseBy+"]]]" {
		t.Errorf("tagging condition %s", got)
	}
	// AND it restores never publicly accessible, into the catalog's subnet groups
	for _, sid := range []string{"RestoreIntoTheDrillSubnetGroup", "CreateTheRestoredClustersWriter"} {
		if got := fmt.Sprint(bySid[sid]["Condition"]); got != "map[Bool:map[rds:PubliclyAccessible:false]]" {
			t.Errorf("%s if %s", sid, got)
		}
	}
	if r := fmt.Sprint(bySid["RestoreIntoTheDrillSubnetGroup"]["Resource"]); !strings.Contains(r, "subgrp:stepship-drill]") && !strings.Contains(r, "subgrp:stepship-drill ") {
		t.Errorf("restore subnet groups %s", r)
	}
	// AND no other statement deletes anything
	for _, st := range dr.statementsOf(role) {
		if strings.Contains(fmt.Sprint(st["Action"]), "Delete") && st["Sid"] != "DeleteOnlyADrillsDatabase" {
			t.Errorf("deletes: %v", st)
		}
	}
}

func TestEveryDrillOfTheCatalogHasItsSchedule(t *testing.T) {
	// GIVEN the DR stack
	dr := drFixture(t)

	// WHEN its schedules are read
	// THEN each catalog drill of the region has one, on its cron in UTC,
	// starting the drill state machine with a drill (never a failover) input
	assertSchedules(t, dr, "DrillStateMachine", "DrillScheduleRole", func(tg catalog.Target) string {
		if tg.Drill == nil || tg.Backup.DRRegion != "us-west-2" {
			return ""
		}
		return tg.Drill.Schedule
	}, func(tg catalog.Target, input []byte) error {
		req, err := payload.DecodeDrillRequest(input)
		if err == nil && (req.Validate() != nil || req.Mode != payload.ModeDrill || req.ConfirmFailover != "" || req.Service != tg.Service || req.Environment != tg.Environment) {
			err = fmt.Errorf("not a valid drill request of the entry: %+v", req)
		}
		return err
	})
	assertScheduleRole(t, dr, "DrillScheduleRole", "DrillStateMachine")
}

func TestDrillAlarmsWatchTheRTOAndRPOEachDrillRecordsAndFailedDrills(t *testing.T) {
	// GIVEN the DR stack
	dr := drFixture(t)
	alarms := dr.alarmsOf()

	// WHEN its alarms are read
	// THEN each drilled database has an RTO alarm at 80 % of its
	// timeoutMinutes (60 → 48 min; 120 → 96 min) and an RPO alarm at twice
	// its backups' longest gap, on the metrics the drill state machine
	// publishes; and failed drills alarm
	for _, tt := range []struct {
		service, environment string
		rto, rpo             float64
	}{{"web", "production", 48 * 60, 2 * 86400}, {"api", "staging", 96 * 60, 12 * 3600}} {
		prefix := "Stepship-dr-us-west-2-drill-"
		assertMetricAlarm(t, alarms, prefix+"rto-"+tt.service+"-"+tt.environment, backup.MetricNamespaceDrills, backup.MetricRTO, tt.service, tt.environment, tt.rto)
		assertMetricAlarm(t, alarms, prefix+"rpo-"+tt.service+"-"+tt.environment, backup.MetricNamespaceDrills, backup.MetricRPO, tt.service, tt.environment, tt.rpo)
	}
	assertFailedExecutionsAlarm(t, dr, "Stepship-dr-us-west-2-drill-failed", "DrillStateMachine")
	if len(alarms) != 5 {
		t.Errorf("alarms %v", keys(alarms))
	}
}

func TestTheDrillStateMachineIsTheDRDrillFileWithItsFunctions(t *testing.T) {
	// GIVEN the DR stack
	dr := drFixture(t)
	restore := dr.logicalID(t, "AWS::Lambda::Function", "RestoreFunction")
	verify := dr.logicalID(t, "AWS::Lambda::Function", "DrVerifyFunction")

	// WHEN the state machine is read
	// THEN it is the named, logged, traced Standard machine of
	// statemachines/dr-drill.asl.json, invoking the DR region's functions
	holds(t, "drill state machine", func() {
		dr.template.HasResourceProperties(jsii.String("AWS::StepFunctions::StateMachine"), map[string]any{
			"StateMachineName": "Stepship-dr-drill",
			"StateMachineType": "STANDARD",
			"DefinitionSubstitutions": map[string]any{
				"RestoreFunctionArn":  map[string]any{"Fn::GetAtt": []any{restore, "Arn"}},
				"DrVerifyFunctionArn": map[string]any{"Fn::GetAtt": []any{verify, "Arn"}},
			},
			"TracingConfiguration": map[string]any{"Enabled": true},
			"LoggingConfiguration": assertions.Match_ObjectLike(&map[string]any{"Level": "ALL"}),
		})
	})
	f := synthesized(t)
	holds(t, "backup state machine", func() {
		f.template.HasResourceProperties(jsii.String("AWS::StepFunctions::StateMachine"), map[string]any{
			"StateMachineName":        "Stepship-backup",
			"DefinitionSubstitutions": map[string]any{"SnapshotFunctionArn": map[string]any{"Fn::GetAtt": []any{f.logicalID(t, "AWS::Lambda::Function", "SnapshotFunction"), "Arn"}}},
		})
	})
}

func TestEveryLogGroupOfEveryStackIsEncryptedAndEveryKeyRotates(t *testing.T) {
	// GIVEN the home, DR and backup-account stacks
	f := synthesized(t)
	for name, st := range map[string]*fixture{"home": f, "us-west-2": drFixture(t), offsiteStack: offsiteFixture(t)} {
		key := st.logicalID(t, "AWS::KMS::Key", "DataKey")
		// WHEN every log group is read
		// THEN each is encrypted by its stack's rotating key
		for id, res := range st.resources("AWS::Logs::LogGroup") {
			if got, want := fmt.Sprint(props(res)["KmsKeyId"]), fmt.Sprint(map[string]any{"Fn::GetAtt": []any{key, "Arn"}}); got != want {
				t.Errorf("%s log group %s: KmsKeyId %s, want %s", name, id, got, want)
			}
		}
		for id, res := range st.resources("AWS::KMS::Key") {
			if props(res)["EnableKeyRotation"] != true {
				t.Errorf("%s key %s does not rotate", name, id)
			}
		}
	}
}

func TestTheDRStackSynthesizesWithoutLookups(t *testing.T) {
	// GIVEN the DR stack's template
	dr := drFixture(t)
	raw, _ := json.Marshal(dr.doc)

	// THEN its zones are CloudFormation's (Fn::GetAZs), no dummy of a lookup
	if strings.Contains(string(raw), "dummy1a") || !strings.Contains(string(raw), "Fn::GetAZs") {
		t.Error("the DR stack's availability zones came from a lookup")
	}
}

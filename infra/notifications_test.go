package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stepship/stepship/shared/config"
)

// stacks are the home and DR fixtures by stack name.
func stacks(t *testing.T) map[string]*fixture {
	t.Helper()
	return map[string]*fixture{"Stepship": synthesized(t), "Stepship-dr-us-west-2": drFixture(t)}
}

func TestEveryStackHasAnEncryptedTLSOnlyNotificationTopic(t *testing.T) {
	for name, f := range stacks(t) {
		t.Run(name, func(t *testing.T) {
			// GIVEN the stack
			key := f.logicalID(t, "AWS::KMS::Key", "DataKey")
			topics := f.resources("AWS::SNS::Topic")

			// WHEN its topic and their policies are read
			// THEN there is one topic, named after the stack, encrypted with
			// the stack's key
			if len(topics) != 1 {
				t.Fatalf("topics %v", keys(topics))
			}
			topic := f.logicalID(t, "AWS::SNS::Topic", "NotificationTopic")
			p := props(topics[topic])
			if p["TopicName"] != name+"-notifications" || fmt.Sprint(p["KmsMasterKeyId"]) != fmt.Sprint(map[string]any{"Fn::GetAtt": []any{key, "Arn"}}) {
				t.Errorf("topic %v", p)
			}
			// AND its policy refuses publishing without TLS and lets
			// CloudWatch publish for the stack's own alarms only
			policies := f.resources("AWS::SNS::TopicPolicy")
			if len(policies) != 1 {
				t.Fatalf("topic policies %v", keys(policies))
			}
			statements := statementsIn(props(policies[keys(policies)[0]]))
			alarms := fmt.Sprint(map[string]any{
				"ArnLike":      map[string]any{"aws:SourceArn": "arn:aws:cloudwatch:" + regionOf(name) + ":123456789012:alarm:" + name + "-*"},
				"StringEquals": map[string]any{"aws:SourceAccount": "123456789012"},
			})
			var tls, cloudwatch bool
			for _, st := range statements {
				switch {
				case st["Effect"] == "Deny" && fmt.Sprint(st["Condition"]) == fmt.Sprint(map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}}):
					tls = true
				case st["Effect"] == "Allow" && fmt.Sprint(st["Principal"]) == "map[Service:cloudwatch.amazonaws.com]" && st["Action"] == "sns:Publish" &&
					fmt.Sprint(st["Condition"]) == alarms:
					cloudwatch = true
				default:
					t.Errorf("topic policy statement %v", st)
				}
			}
			if !tls || !cloudwatch {
				t.Errorf("topic policy %v: TLS only %t, the stack's alarms %t", statements, tls, cloudwatch)
			}
			// AND the key lets CloudWatch use it for those alarms only
			var keyStatements int
			for _, st := range statementsIn(map[string]any{"PolicyDocument": props(f.resources("AWS::KMS::Key")[key])["KeyPolicy"]}) {
				if strings.Contains(fmt.Sprint(st["Principal"]), "cloudwatch.amazonaws.com") {
					keyStatements++
					if fmt.Sprint(st["Action"]) != "[kms:Decrypt kms:GenerateDataKey*]" || fmt.Sprint(st["Condition"]) != alarms {
						t.Errorf("key policy for CloudWatch: %v", st)
					}
				}
			}
			if keyStatements != 1 {
				t.Errorf("%d key policy statements for CloudWatch", keyStatements)
			}
		})
	}
}

// regionOf is the region of a test stack.
func regionOf(stack string) string {
	if r, ok := strings.CutPrefix(stack, "Stepship-dr-"); ok {
		return r
	}
	return "us-east-1"
}

func TestEveryAlarmNotifiesItsStacksTopic(t *testing.T) {
	for name, f := range stacks(t) {
		t.Run(name, func(t *testing.T) {
			// GIVEN the stack's alarms and its topic
			topic := fmt.Sprint([]any{map[string]any{"Ref": f.logicalID(t, "AWS::SNS::Topic", "NotificationTopic")}})
			alarms := f.alarmsOf()
			if len(alarms) == 0 {
				t.Fatal("no alarms")
			}

			// THEN each sends ALARM to the topic; one on a measurement
			// (RPO, RTO) sends OK too, one on failed executions does not
			for alarm, p := range alarms {
				if fmt.Sprint(p["AlarmActions"]) != topic {
					t.Errorf("%s: alarm actions %v, want the topic", alarm, p["AlarmActions"])
				}
				ok := fmt.Sprint(p["OKActions"])
				switch failed := strings.HasSuffix(alarm, "-failed"); {
				case failed && p["OKActions"] != nil:
					t.Errorf("%s: OK actions %v on a failed-executions alarm", alarm, ok)
				case !failed && ok != topic:
					t.Errorf("%s: OK actions %v, want the topic", alarm, ok)
				}
			}
		})
	}
}

func TestTheBackupAndDrillMachinesPublishOnlyToTheirStacksTopic(t *testing.T) {
	for name, tc := range map[string]struct {
		f              *fixture
		machine, other string
	}{
		"backup": {synthesized(t), "BackupStateMachine", "DeployStateMachine"},
		"drill":  {drFixture(t), "DrillStateMachine", ""},
	} {
		t.Run(name, func(t *testing.T) {
			// GIVEN the stack's machines and topic
			f := tc.f
			topic := map[string]any{"Ref": f.logicalID(t, "AWS::SNS::Topic", "NotificationTopic")}
			machine := f.logicalID(t, "AWS::StepFunctions::StateMachine", tc.machine)

			// THEN the machine's definition names the topic
			subs := props(f.resources("AWS::StepFunctions::StateMachine")[machine])["DefinitionSubstitutions"].(map[string]any)
			if fmt.Sprint(subs["NotificationTopicArn"]) != fmt.Sprint(topic) {
				t.Errorf("NotificationTopicArn = %v", subs["NotificationTopicArn"])
			}
			// AND its role may publish to that topic and nothing else
			var publish int
			for _, st := range f.statementsOf(f.logicalID(t, "AWS::IAM::Role", tc.machine+"Role")) {
				if strings.Contains(fmt.Sprint(st["Action"]), "sns:") {
					publish++
					if st["Action"] != "sns:Publish" || fmt.Sprint(st["Resource"]) != fmt.Sprint(topic) || st["Condition"] != nil {
						t.Errorf("%s may %v on %v", tc.machine, st["Action"], st["Resource"])
					}
				}
			}
			if publish != 1 {
				t.Errorf("%d SNS statements, want one", publish)
			}
			// AND no other role may publish anything
			for role := range f.resources("AWS::IAM::Role") {
				if role == f.logicalID(t, "AWS::IAM::Role", tc.machine+"Role") {
					continue
				}
				for _, st := range f.statementsOf(role) {
					if strings.Contains(fmt.Sprint(st["Action"]), "sns:") {
						t.Errorf("%s may %v", role, st["Action"])
					}
				}
			}
		})
	}
}

func TestTheRestoreFunctionUsesOnlyTheHomeLedgersDeploysAndDrillReports(t *testing.T) {
	// GIVEN the home stack's table and the DR stack's restore function
	f, dr := synthesized(t), drFixture(t)
	tables := f.resources("AWS::DynamoDB::Table")
	if len(tables) != 1 || props(tables[keys(tables)[0]])["TableName"] != "Stepship-ledger" {
		t.Fatalf("the home stack's table is not named Stepship-ledger: %v", tables)
	}
	restore := props(dr.resources("AWS::Lambda::Function")[dr.logicalID(t, "AWS::Lambda::Function", "RestoreFunction")])
	env := restore["Environment"].(map[string]any)["Variables"].(map[string]any)

	// THEN it names the ledger and the home region
	if env[config.EnvLedgerTable] != "Stepship-ledger" || env[config.EnvLedgerRegion] != "us-east-1" {
		t.Errorf("restore environment %v", env)
	}
	// AND it may Query the deploys' entries and put drill reports, on that
	// table only, and nothing else of DynamoDB
	const table = "arn:aws:dynamodb:us-east-1:123456789012:table/Stepship-ledger"
	want := map[string]string{
		"dynamodb:Query":   fmt.Sprint(map[string]any{"ForAllValues:StringLike": map[string]any{"dynamodb:LeadingKeys": []any{"deploy#*"}}}),
		"dynamodb:PutItem": fmt.Sprint(map[string]any{"ForAllValues:StringLike": map[string]any{"dynamodb:LeadingKeys": []any{"drill#*"}}}),
	}
	var got []string
	for _, st := range dr.statementsOf(dr.logicalID(t, "AWS::IAM::Role", "RestoreFunctionRole")) {
		a := fmt.Sprint(st["Action"])
		if !strings.Contains(a, "dynamodb:") {
			continue
		}
		got = append(got, a)
		if fmt.Sprint(st["Resource"]) != table || fmt.Sprint(st["Condition"]) != want[a] {
			t.Errorf("%s on %v if %v", a, st["Resource"], st["Condition"])
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"dynamodb:PutItem", "dynamodb:Query"}) {
		t.Errorf("DynamoDB actions %v", got)
	}
	// AND no other DR role touches DynamoDB
	for _, role := range []string{"DrVerifyFunctionRole", "DrillStateMachineRole"} {
		for _, st := range dr.statementsOf(dr.logicalID(t, "AWS::IAM::Role", role)) {
			if strings.Contains(fmt.Sprint(st["Action"]), "dynamodb:") {
				t.Errorf("%s may %v", role, st["Action"])
			}
		}
	}
}

func TestNotificationEmailsAreSubscribedToEveryTopicAndChecked(t *testing.T) {
	// GIVEN the stacks built with an address (testProps)
	// THEN each topic has it subscribed by email, and only it
	for name, f := range stacks(t) {
		subs := f.resources("AWS::SNS::Subscription")
		if len(subs) != 1 {
			t.Fatalf("%s: subscriptions %v", name, keys(subs))
		}
		p := props(subs[keys(subs)[0]])
		if p["Protocol"] != "email" || p["Endpoint"] != "ops@example.com" ||
			fmt.Sprint(p["TopicArn"]) != fmt.Sprint(map[string]any{"Ref": f.logicalID(t, "AWS::SNS::Topic", "NotificationTopic")}) {
			t.Errorf("%s: subscription %v", name, p)
		}
	}

	// AND an address SNS cannot deliver to fails the synth
	app2, dir2, dist2 := newTestStack(t)
	bad := testProps(dir2, dist2)
	bad.NotificationEmails = []string{"ops at example.com"}
	if _, _, err := NewStacks(app2, "BadMail", bad); err == nil || !strings.Contains(err.Error(), `notification email "ops at example.com" is not an address`) {
		t.Errorf("error %v", err)
	}
}

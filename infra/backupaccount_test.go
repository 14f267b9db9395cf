package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/stepship/stepship/shared/backup"
	"github.com/stepship/stepship/shared/config"
	"github.com/stepship/stepship/shared/payload"
)

// The test catalog's backup account: web/production (an instance) and
// api/staging (an Aurora cluster) copy to it in us-west-2, each with its own
// role; web/qa (eu-west-1) has none.
const (
	offsiteStack = "Stepship-backup-account-444455556666-us-west-2"
	webCopier    = "arn:aws:iam::444455556666:role/stepship-backup-copier"
	apiCopier    = "arn:aws:iam::444455556666:role/stepship/api-copier"
	drKeyARN     = "arn:aws:kms:us-west-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
)

// isBackupAccountGrant reports whether a statement lets the snapshot
// function grant a backup account's role the DR key, or find and retire
// such grants (tested here, not as RDS's use of the key).
func isBackupAccountGrant(st map[string]any) bool {
	sid := fmt.Sprint(st["Sid"])
	return strings.HasPrefix(sid, "GrantTheBackupAccountsTheDRKey") || sid == "FindAndRetireItsGrantsOnTheDRKeys"
}

func offsiteFixture(t *testing.T) *fixture {
	t.Helper()
	f := synthesized(t)
	b, ok := f.offsite[offsiteStack]
	if !ok {
		t.Fatalf("no stack %s (have %v)", offsiteStack, keys(f.offsite))
	}
	return b
}

// statementsBySid returns a role's statements by Sid.
func (f *fixture) statementsBySid(role string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, st := range f.statementsOf(role) {
		out[fmt.Sprint(st["Sid"])] = st
	}
	return out
}

// roleNamed finds the role with the RoleName name.
func (f *fixture) roleNamed(t *testing.T, name string) (string, map[string]any) {
	t.Helper()
	for id, r := range f.resources("AWS::IAM::Role") {
		if props(r)["RoleName"] == name {
			return id, props(r)
		}
	}
	t.Fatalf("no role named %s", name)
	return "", nil
}

func TestThereIsABackupAccountStackInEachBackupAccountAndRegion(t *testing.T) {
	// GIVEN the test catalog: one backup account, copied to in us-west-2
	f := synthesized(t)

	// WHEN the stacks are listed
	// THEN there is one backup-account stack, in that account and region,
	// named after the home stack
	if got := keys(f.offsite); !slices.Equal(got, []string{offsiteStack}) {
		t.Fatalf("backup-account stacks %v", got)
	}
	b := f.stack.BackupAccountStacks[0]
	if *b.Stack.Account() != "444455556666" || *b.Stack.Region() != "us-west-2" || b.Account != "444455556666" || b.Region != "us-west-2" {
		t.Errorf("stack in %s/%s", *b.Stack.Account(), *b.Stack.Region())
	}
	// AND it holds the two copier roles, the copies' key, and the pruning:
	// a function, its role, its schedule's role, its log group's key
	o := offsiteFixture(t)
	for typ, n := range map[string]int{"AWS::IAM::Role": 4, "AWS::KMS::Key": 2, "AWS::KMS::Alias": 1, "AWS::Lambda::Function": 1,
		"AWS::Scheduler::Schedule": 1, "AWS::StepFunctions::StateMachine": 0} {
		if got := len(o.resources(typ)); got != n {
			t.Errorf("%d %s, want %d", got, typ, n)
		}
	}
}

func TestTheCopierRolesTrustOnlyTheHomeSnapshotFunction(t *testing.T) {
	// GIVEN the home stack and the backup-account stack
	f, o := synthesized(t), offsiteFixture(t)

	// WHEN the home snapshot function's role and the copier roles are read
	// THEN the snapshot function's role has the fixed name the copier roles
	// trust, by ARN, from the home account only
	if got := props(f.resources("AWS::IAM::Role")[f.logicalID(t, "AWS::IAM::Role", "SnapshotFunctionRole")])["RoleName"]; got != "Stepship-snapshot" {
		t.Errorf("the snapshot function's role is named %v", got)
	}
	for _, c := range []struct{ name, path string }{{"stepship-backup-copier", "/"}, {"api-copier", "/stepship/"}} {
		_, role := o.roleNamed(t, c.name)
		if role["Path"] != c.path {
			t.Errorf("%s: path %v, want %s", c.name, role["Path"], c.path)
		}
		trust := asList(role["AssumeRolePolicyDocument"].(map[string]any)["Statement"])
		if len(trust) != 1 {
			t.Fatalf("%s: trust %v", c.name, trust)
		}
		st := trust[0].(map[string]any)
		principal := fmt.Sprint(st["Principal"])
		if st["Action"] != "sts:AssumeRole" || st["Effect"] != "Allow" || !strings.Contains(principal, ":iam::123456789012:root") ||
			!strings.Contains(fmt.Sprint(st["Condition"]), "ArnEquals:map[aws:PrincipalArn:") || !strings.Contains(fmt.Sprint(st["Condition"]), ":iam::123456789012:role/Stepship-snapshot") {
			t.Errorf("%s is trusted by %v if %v", c.name, principal, st["Condition"])
		}
	}
}

func TestTheCopierRolesCopyInAndNeverDelete(t *testing.T) {
	// GIVEN the backup-account stack
	o := offsiteFixture(t)
	key := o.logicalID(t, "AWS::KMS::Key", "CopiesKey1")
	keyRef := fmt.Sprint(map[string]any{"Fn::GetAtt": []any{key, "Arn"}})

	for _, c := range []struct {
		name, kind, db string
		keys           []string // what RDS may use through the role
	}{
		{"stepship-backup-copier", "snapshot", "web-prod", []string{keyRef, drKeyARN}},
		{"api-copier", "cluster-snapshot", "api-aurora", []string{"arn:aws:kms:us-west-2:444455556666:key/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0", drKeyARN}},
	} {
		t.Run(c.name, func(t *testing.T) {
			// WHEN its statements are read
			id, _ := o.roleNamed(t, c.name)
			var allowed []string
			var kmsKeys []string
			denied := false
			for _, st := range o.statementsOf(id) {
				actions := asList(st["Action"])
				if st["Effect"] == "Deny" {
					denied = fmt.Sprint(st["Resource"]) == "*" && len(actions) == len(neverActions)
					for _, a := range neverActions {
						denied = denied && slices.ContainsFunc(actions, func(x any) bool { return x == a })
					}
					continue
				}
				for _, a := range actions {
					allowed = append(allowed, fmt.Sprint(a))
				}
				for _, r := range asList(st["Resource"]) {
					res := fmt.Sprint(r)
					switch {
					case strings.HasPrefix(fmt.Sprint(actions[0]), "kms:"):
						kmsKeys = append(kmsKeys, res)
						if c := fmt.Sprint(st["Condition"]); !strings.Contains(c, "kms:ViaService:rds.us-west-2.amazonaws.com") {
							t.Errorf("%v on %s if %s: not through RDS in us-west-2", actions, res, c)
						}
					case slices.Contains(actions, any("rds:Copy"+map[string]string{"snapshot": "DBSnapshot", "cluster-snapshot": "DBClusterSnapshot"}[c.kind])):
						// from the home account's DR copies into this account
						want := []string{"arn:aws:rds:us-west-2:444455556666:" + c.kind + ":stepship-" + c.db + "-*", "arn:aws:rds:us-west-2:123456789012:" + c.kind + ":stepship-" + c.db + "-*"}
						if !slices.Contains(want, res) {
							t.Errorf("%v on %s", actions, res)
						}
					default:
						if res != "arn:aws:rds:us-west-2:444455556666:"+c.kind+":stepship-"+c.db+"-*" {
							t.Errorf("%v on %s: not stepship's copies of %s here", actions, res, c.db)
						}
					}
				}
			}

			// THEN it may copy stepship's snapshots of its database in, tag
			// and read them, and have RDS use its key and the DR key; it may
			// not delete, share out or untag them, or take the key away
			sort.Strings(allowed)
			allowed = slices.Compact(allowed)
			copyAction, readAction := "rds:CopyDBSnapshot", "rds:DescribeDBSnapshots"
			if c.kind == "cluster-snapshot" {
				copyAction, readAction = "rds:CopyDBClusterSnapshot", "rds:DescribeDBClusterSnapshots"
			}
			if want := []string{"kms:CreateGrant", "kms:DescribeKey", "rds:AddTagsToResource", copyAction, readAction}; !slices.Equal(allowed, want) {
				t.Errorf("allowed %v, want %v", allowed, want)
			}
			sort.Strings(kmsKeys)
			wantKeys := append(slices.Clone(c.keys), c.keys...) // CreateGrant and DescribeKey on each
			sort.Strings(wantKeys)
			if !slices.Equal(kmsKeys, wantKeys) {
				t.Errorf("keys %v, want %v", kmsKeys, wantKeys)
			}
			if !denied {
				t.Errorf("no explicit Deny of %v on every resource", neverActions)
			}
		})
	}
}

func TestTheCopiesKeyRotatesAndOutlivesTheStack(t *testing.T) {
	// GIVEN the backup-account stack
	o := offsiteFixture(t)

	// WHEN its key is read
	// THEN it rotates, is kept when the stack is deleted, and is named by
	// the alias the catalog names
	for id, k := range o.resources("AWS::KMS::Key") {
		if !strings.HasPrefix(id, "CopiesKey") {
			continue
		}
		if props(k)["EnableKeyRotation"] != true || k["DeletionPolicy"] != "Retain" || k["UpdateReplacePolicy"] != "Retain" {
			t.Errorf("key %s: rotation %v, deletion %v/%v", id, props(k)["EnableKeyRotation"], k["DeletionPolicy"], k["UpdateReplacePolicy"])
		}
	}
	for _, a := range o.resources("AWS::KMS::Alias") {
		if props(a)["AliasName"] != "alias/stepship-copies" {
			t.Errorf("alias %v", props(a)["AliasName"])
		}
	}
}

func TestTheSnapshotFunctionMayShareOnlyWithTheCatalogsBackupAccounts(t *testing.T) {
	// GIVEN the home stack
	f := synthesized(t)
	role := f.logicalID(t, "AWS::IAM::Role", "SnapshotFunctionRole")
	self := "arn:aws:iam::123456789012:role/Stepship-snapshot"

	// WHEN the snapshot function's statements and environment are read
	sts := f.statementsBySid(role)
	fn := props(f.resources("AWS::Lambda::Function")[f.logicalID(t, "AWS::Lambda::Function", "SnapshotFunction")])

	// THEN it knows its own role
	if env := fn["Environment"].(map[string]any)["Variables"].(map[string]any); fmt.Sprint(env[config.EnvFunctionRoleARN]) != self {
		t.Errorf("%s = %v", config.EnvFunctionRoleARN, env[config.EnvFunctionRoleARN])
	}
	// AND may assume exactly the catalog's copier roles
	if got := asStrings(sts["AssumeTheBackupAccountsRoles"]["Resource"]); fmt.Sprint(sts["AssumeTheBackupAccountsRoles"]["Action"]) != "sts:AssumeRole" ||
		!slices.Equal(got, []string{webCopier, apiCopier}) {
		t.Errorf("assumes %v: %v", sts["AssumeTheBackupAccountsRoles"]["Action"], got)
	}
	// AND may share only stepship's copies of those databases in their DR
	// region (not web/qa's, which has no backup account)
	for sid, want := range map[string]string{
		"ShareTheDRCopiesWithTheBackupAccounts":        "arn:aws:rds:us-west-2:123456789012:snapshot:stepship-web-prod-*",
		"ShareTheDRClusterCopiesWithTheBackupAccounts": "arn:aws:rds:us-west-2:123456789012:cluster-snapshot:stepship-api-aurora-*",
	} {
		if got := asStrings(sts[sid]["Resource"]); !slices.Equal(got, []string{want}) {
			t.Errorf("%s on %v, want %s", sid, got, want)
		}
	}
	// AND may grant the DR key only to those roles, only the operations a
	// copy needs, retirable only by itself; and find and retire grants on
	// that key only
	g := sts["GrantTheBackupAccountsTheDRKey1"]
	cond := fmt.Sprint(g["Condition"])
	if fmt.Sprint(g["Action"]) != "kms:CreateGrant" || fmt.Sprint(g["Resource"]) != drKeyARN ||
		!strings.Contains(cond, "kms:GranteePrincipal:["+webCopier+" "+apiCopier+"]") || !strings.Contains(cond, "kms:RetiringPrincipal:"+self) ||
		!strings.Contains(cond, "ForAllValues:StringEquals:map[kms:GrantOperations:["+strings.Join(backup.ShareGrantOperations(), " ")+"]]") {
		t.Errorf("grant statement %v", g)
	}
	if _, two := sts["GrantTheBackupAccountsTheDRKey2"]; two {
		t.Error("a grant statement for a key no backup account needs")
	}
	if r := sts["FindAndRetireItsGrantsOnTheDRKeys"]; fmt.Sprint(r["Action"]) != "[kms:ListGrants kms:RetireGrant]" || fmt.Sprint(r["Resource"]) != drKeyARN {
		t.Errorf("retire statement %v", r)
	}
}

func asStrings(v any) []string {
	var out []string
	for _, x := range asList(v) {
		out = append(out, fmt.Sprint(x))
	}
	return out
}

func TestABackupAccountNeedsAKnownHomeAccountAndAShortStackName(t *testing.T) {
	for _, tc := range []struct {
		name, stack string
		account     *string
		want        string
	}{
		{"no account", "Stepship", nil, "the home stack's account must be known at synth"},
		{"an unresolved account", "Stepship", awscdk.Aws_ACCOUNT_ID(), "the home stack's account must be known at synth"},
		{"a long stack name", "Stepship" + strings.Repeat("x", 60), jsii.String("123456789012"), "longer than IAM's 64 characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app, dir, dist := newTestStack(t)
			p := testProps(dir, dist)
			p.Env = &awscdk.Environment{Account: tc.account, Region: jsii.String("us-east-1")}
			p.StagingDir = filepath.Join(dir, "staging-"+strings.ReplaceAll(tc.name, " ", "-"))
			_, _, err := NewStacks(app, tc.stack, p)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func TestTheBackupAccountPrunesItsOwnCopies(t *testing.T) {
	// GIVEN the backup-account stack
	o := offsiteFixture(t)
	fnID := o.logicalID(t, "AWS::Lambda::Function", "SnapshotFunction")
	fn := props(o.resources("AWS::Lambda::Function")[fnID])
	role := o.logicalID(t, "AWS::IAM::Role", "SnapshotFunctionRole")

	// WHEN the pruning function, its role, schedule and alarm are read
	// THEN it is the snapshot function, told which backup account it runs
	// in (its only action there is to prune)
	env := fn["Environment"].(map[string]any)["Variables"].(map[string]any)
	if env[config.EnvBackupAccount] != "444455556666" || env[config.EnvCatalog] != "/var/task/catalog.yaml" {
		t.Errorf("environment %v", env)
	}
	// AND it may list and delete stepship's copies of the catalog's
	// databases in this account and region, and nothing else
	want := map[string][]string{
		"ListTheCopies":                                     {"arn:aws:rds:us-west-2:444455556666:db:web-prod", "arn:aws:rds:us-west-2:444455556666:snapshot:stepship-web-prod-*"},
		"ListTheClusterCopies":                              {"arn:aws:rds:us-west-2:444455556666:cluster:api-aurora", "arn:aws:rds:us-west-2:444455556666:cluster-snapshot:stepship-api-aurora-*"},
		"PruneTheCopiesByTheBackupAccountsRetention":        {"arn:aws:rds:us-west-2:444455556666:snapshot:stepship-web-prod-*"},
		"PruneTheClusterCopiesByTheBackupAccountsRetention": {"arn:aws:rds:us-west-2:444455556666:cluster-snapshot:stepship-api-aurora-*"},
	}
	for _, st := range o.statementsOf(role) {
		sid := fmt.Sprint(st["Sid"])
		if strings.Contains(fmt.Sprint(st["Action"]), "xray:") || strings.Contains(fmt.Sprint(st["Action"]), "logs:") {
			continue
		}
		got := asStrings(st["Resource"])
		sort.Strings(got)
		if w, ok := want[sid]; !ok || !slices.Equal(got, slices.Sorted(slices.Values(w))) || st["Effect"] != "Allow" {
			t.Errorf("the pruning role: %s %v on %v", sid, st["Action"], st["Resource"])
		}
		delete(want, sid)
	}
	if len(want) > 0 {
		t.Errorf("the pruning role lacks %v", keys(want))
	}
	// AND a daily schedule invokes it with the prune action, as a role that
	// may invoke only it
	var sched map[string]any
	for _, s := range o.resources("AWS::Scheduler::Schedule") {
		sched = props(s)
	}
	target := sched["Target"].(map[string]any)
	var in payload.Invocation[backup.Call]
	if err := json.Unmarshal([]byte(target["Input"].(string)), &in); err != nil || in.Input.Action != backup.ActionPruneBackupAccount || in.ExecutionID != "<aws.scheduler.execution-id>" {
		t.Errorf("schedule input %v: %v", target["Input"], err)
	}
	schedRole := o.logicalID(t, "AWS::IAM::Role", "PruneScheduleRole")
	if sched["ScheduleExpression"] != backupAccountPruneSchedule || sched["ScheduleExpressionTimezone"] != "UTC" || sched["State"] != "ENABLED" ||
		fmt.Sprint(target["Arn"]) != fmt.Sprint(map[string]any{"Fn::GetAtt": []any{fnID, "Arn"}}) ||
		fmt.Sprint(target["RoleArn"]) != fmt.Sprint(map[string]any{"Fn::GetAtt": []any{schedRole, "Arn"}}) {
		t.Errorf("schedule %v", sched)
	}
	sts := o.statementsOf(schedRole)
	if len(sts) != 1 || fmt.Sprint(sts[0]["Action"]) != "lambda:InvokeFunction" || fmt.Sprint(sts[0]["Resource"]) != fmt.Sprint(map[string]any{"Fn::GetAtt": []any{fnID, "Arn"}}) {
		t.Errorf("the schedule role may %v", sts)
	}
	if trust := fmt.Sprint(props(o.resources("AWS::IAM::Role")[schedRole])["AssumeRolePolicyDocument"]); !strings.Contains(trust, "scheduler.amazonaws.com") ||
		!strings.Contains(trust, "aws:SourceAccount:444455556666") {
		t.Errorf("the schedule role's trust: %s", trust)
	}
	// AND its errors alarm
	a, ok := o.alarmsOf()[offsiteStack+"-prune-failed"]
	if !ok || a["MetricName"] != "Errors" || a["Namespace"] != "AWS/Lambda" || a["Threshold"] != float64(1) || a["TreatMissingData"] != "notBreaching" ||
		!strings.Contains(fmt.Sprint(a["Dimensions"]), fnID) {
		t.Errorf("alarm %v (have %v)", a, keys(o.alarmsOf()))
	}
}

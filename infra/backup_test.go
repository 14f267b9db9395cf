package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stepship/stepship/shared/backup"
	"github.com/stepship/stepship/shared/catalog"
	"github.com/stepship/stepship/shared/payload"
)

// testCatalog is the catalog every synthesized test stack is built from.
func testCatalog(t *testing.T) *catalog.Catalog {
	t.Helper()
	cat, err := catalog.Load(filepath.Join("testdata", "catalog.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

// schedulesOf returns a template's schedules by catalog entry
// ("service/environment", from their input), each with its target.
func (f *fixture) schedulesOf(t *testing.T) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for id, res := range f.resources("AWS::Scheduler::Schedule") {
		target := props(res)["Target"].(map[string]any)
		var in struct{ Service, Environment string }
		if err := json.Unmarshal([]byte(target["Input"].(string)), &in); err != nil {
			t.Fatalf("schedule %s: input %v: %v", id, target["Input"], err)
		}
		out[in.Service+"/"+in.Environment] = props(res)
	}
	return out
}

// assertSchedules checks that a template's schedules are exactly one for
// each catalog entry cron gives an expression ("": none), on that
// expression in UTC, enabled, starting the state machine as the role with an
// input check accepts.
func assertSchedules(t *testing.T, f *fixture, machineStem, roleStem string, cron func(catalog.Target) string, check func(catalog.Target, []byte) error) {
	t.Helper()
	machine := f.logicalID(t, "AWS::StepFunctions::StateMachine", machineStem)
	role := f.logicalID(t, "AWS::IAM::Role", roleStem)
	schedules := f.schedulesOf(t)
	var want []string
	for _, tg := range testCatalog(t).Targets() {
		expression := cron(tg)
		if expression == "" {
			continue
		}
		key := tg.Service + "/" + tg.Environment
		want = append(want, key)
		s, ok := schedules[key]
		if !ok {
			t.Errorf("no %s schedule for %s", machineStem, key)
			continue
		}
		target := s["Target"].(map[string]any)
		if s["ScheduleExpression"] != expression || s["ScheduleExpressionTimezone"] != "UTC" || s["State"] != "ENABLED" ||
			fmt.Sprint(s["FlexibleTimeWindow"]) != "map[Mode:OFF]" {
			t.Errorf("%s: schedule %v %v %v %v", key, s["ScheduleExpression"], s["ScheduleExpressionTimezone"], s["State"], s["FlexibleTimeWindow"])
		}
		if fmt.Sprint(target["Arn"]) != fmt.Sprint(map[string]any{"Ref": machine}) ||
			fmt.Sprint(target["RoleArn"]) != fmt.Sprint(map[string]any{"Fn::GetAtt": []any{role, "Arn"}}) {
			t.Errorf("%s: target %v as %v", key, target["Arn"], target["RoleArn"])
		}
		if err := check(tg, []byte(target["Input"].(string))); err != nil {
			t.Errorf("%s: input %v: %v", key, target["Input"], err)
		}
	}
	if len(schedules) != len(want) {
		t.Errorf("schedules for %v, want for %v", keys(schedules), want)
	}
}

func TestEveryBackupOfTheCatalogHasItsSchedule(t *testing.T) {
	// GIVEN the stack built from the test catalog (web/production daily,
	// web/qa every 12 hours, api/staging every 6 hours)
	f := synthesized(t)

	// WHEN its schedules are read
	// THEN each catalog entry with a backup has exactly one, on its cron in
	// UTC, starting the backup state machine with the documented input
	// (events/backup-now.json: service, environment, reason; no target), and
	// there is no other
	assertSchedules(t, f, "BackupStateMachine", "BackupScheduleRole", func(tg catalog.Target) string {
		if tg.Backup == nil {
			return ""
		}
		return tg.Backup.Schedule
	}, func(tg catalog.Target, input []byte) error {
		req, err := payload.DecodeBackupRequest(input)
		if err == nil && (req.Validate() != nil || req.Service != tg.Service || req.Environment != tg.Environment || req.Reason == "") {
			err = fmt.Errorf("not a valid backup request of the entry: %+v", req)
		}
		return err
	})
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// assertScheduleRole checks that a schedule role can be assumed by
// EventBridge Scheduler of this account only, and may start the one state
// machine and do nothing else.
func assertScheduleRole(t *testing.T, f *fixture, roleStem, machineStem string) {
	t.Helper()
	role := f.logicalID(t, "AWS::IAM::Role", roleStem)
	machine := f.logicalID(t, "AWS::StepFunctions::StateMachine", machineStem)
	trust := fmt.Sprint(props(f.resources("AWS::IAM::Role")[role])["AssumeRolePolicyDocument"])
	if !strings.Contains(trust, "scheduler.amazonaws.com") || !strings.Contains(trust, "aws:SourceAccount:123456789012") {
		t.Errorf("%s trust policy: %s", roleStem, trust)
	}
	statements := f.statementsOf(role)
	if len(statements) != 1 || fmt.Sprint(statements[0]["Action"]) != "states:StartExecution" ||
		fmt.Sprint(statements[0]["Resource"]) != fmt.Sprint(map[string]any{"Ref": machine}) {
		t.Errorf("%s may %v, want only states:StartExecution on %s", roleStem, statements, machineStem)
	}
}

func TestTheBackupScheduleRoleMayStartExactlyTheBackupStateMachine(t *testing.T) {
	assertScheduleRole(t, synthesized(t), "BackupScheduleRole", "BackupStateMachine")
}

// allowedRDS are the resources of the catalog's databases an RDS permission
// may name, as regular expressions over ARNs: each database in the home and
// its DR region, stepship's snapshots of it, the databases drills and
// failovers restore from it in the DR region, the drills' subnet groups,
// and the default option and parameter groups of the DR region.
func allowedRDS(t *testing.T, home string) []*regexp.Regexp {
	t.Helper()
	var out []*regexp.Regexp
	add := func(region, resource string) {
		out = append(out, regexp.MustCompile("^arn:aws:rds:"+region+":123456789012:"+resource+"$"))
	}
	for _, tg := range testCatalog(t).Targets() {
		if tg.Backup == nil {
			continue
		}
		id := regexp.QuoteMeta(tg.Database.Identifier())
		kind, snap := "db", "snapshot"
		if tg.Database.Aurora() {
			kind, snap = "cluster", "cluster-snapshot"
		}
		for _, region := range []string{home, tg.Backup.DRRegion} {
			add(region, kind+":"+id)
			add(region, snap+`:stepship-`+id+`-\*`)
		}
		if tg.Drill != nil {
			dr := tg.Backup.DRRegion
			add(dr, `(db|cluster):(drill|failover)-`+id+`-\*`)
			add(dr, "subgrp:"+regexp.QuoteMeta(tg.Drill.SubnetGroup))
			add(dr, `(og:default:|pg:default\.|cluster-pg:default\.)\*`)
		}
	}
	return out
}

// assertScoped fails for every statement of a role of the stack in region
// that lets an RDS, KMS or Secrets Manager action reach anything but what
// allowed matches, a catalog DR key through a service of its region, the
// stack's own key publishing to its topic, or the home stack's key through
// DynamoDB for the ledger: a permission that becomes broader than the
// catalog fails here.
func assertScoped(t *testing.T, f *fixture, region, roleStem string, allowed []*regexp.Regexp) {
	t.Helper()
	keys := map[string]string{} // the catalog's DR keys and their regions
	for _, tg := range testCatalog(t).Targets() {
		if tg.Backup != nil {
			keys[tg.Backup.DRKMSKey] = tg.Backup.DRRegion
		}
	}
	role := f.logicalID(t, "AWS::IAM::Role", roleStem)
	ownKey := fmt.Sprint(map[string]any{"Fn::GetAtt": []any{f.logicalID(t, "AWS::KMS::Key", "DataKey"), "Arn"}})
	viaSNS := fmt.Sprint(map[string]any{"StringEquals": map[string]any{"kms:ViaService": "sns." + region + ".amazonaws.com"}})
	ledgerKey := fmt.Sprint(map[string]any{"StringEquals": map[string]any{"kms:ViaService": "dynamodb.us-east-1.amazonaws.com", "kms:EncryptionContext:aws:dynamodb:tableName": "Stepship-ledger"}})
	for _, st := range f.statementsOf(role) {
		actions := fmt.Sprint(st["Action"])
		for _, r := range asList(st["Resource"]) {
			res := fmt.Sprint(r)
			switch {
			case strings.Contains(actions, "rds:"):
				if !slices.ContainsFunc(allowed, func(re *regexp.Regexp) bool { return re.MatchString(res) }) {
					t.Errorf("%s: %s on %s, which the catalog does not name", roleStem, actions, res)
				}
			case strings.Contains(actions, "kms:") && isBackupAccountGrant(st):
				// sharing with a backup account: backupaccount_test.go
				if _, ok := keys[res]; !ok {
					t.Errorf("%s: %s on %s: not a catalog DR key", roleStem, actions, res)
				}
			case strings.Contains(actions, "kms:"):
				keyRegion, ok := keys[res]
				via := fmt.Sprint(st["Condition"])
				switch {
				case ok && strings.Contains(via, "kms:ViaService:") && strings.Contains(via, "."+keyRegion+".amazonaws.com"):
				case res == ownKey && via == viaSNS && actions == "[kms:Decrypt kms:GenerateDataKey]":
				case res == "arn:aws:kms:us-east-1:123456789012:key/*" && (via == ledgerKey ||
					actions == "kms:DescribeKey" && via == fmt.Sprint(map[string]any{"StringEquals": map[string]any{"kms:ViaService": "dynamodb.us-east-1.amazonaws.com"}})):
				default:
					t.Errorf("%s: %s on %s if %s: not a catalog DR key used through a service of its region, the stack's key through its topic, nor the ledger's through DynamoDB",
						roleStem, actions, res, via)
				}
			case strings.Contains(actions, "secretsmanager:"):
				if !strings.HasPrefix(res, "arn:aws:secretsmanager:") || strings.Contains(res, "*") {
					t.Errorf("%s: %s on %s", roleStem, actions, res)
				}
			}
		}
	}
}

func TestTheSnapshotFunctionReachesOnlyTheCatalogsDatabasesSnapshotsAndKeys(t *testing.T) {
	// GIVEN the stack
	f := synthesized(t)

	// WHEN the snapshot function's and the backup state machine's statements
	// are read
	// THEN every RDS resource is a catalog database or stepship's snapshot
	// of it, in its home or DR region, and every key a catalog DR key
	// used through RDS in its region
	for _, role := range []string{"SnapshotFunctionRole", "BackupStateMachineRole"} {
		assertScoped(t, f, "us-east-1", role, allowedRDS(t, "us-east-1"))
	}
	// AND the copies go to each database's own DR region only
	for _, st := range f.statementsOf(f.logicalID(t, "AWS::IAM::Role", "SnapshotFunctionRole")) {
		if !strings.Contains(fmt.Sprint(st["Action"]), "rds:CopyDB") {
			continue
		}
		for _, r := range asList(st["Resource"]) {
			res := fmt.Sprint(r)
			if (strings.Contains(res, "web-qa") && strings.Contains(res, "us-west-2")) || (strings.Contains(res, "web-prod") && strings.Contains(res, "eu-west-1")) {
				t.Errorf("copy into another database's DR region: %s", res)
			}
		}
	}
}

func TestSnapshotsAreOfEncryptedInstancesAndCopiesUseTheCatalogsKey(t *testing.T) {
	// GIVEN the stack
	f := synthesized(t)

	// WHEN the backup state machine's snapshot statements are read
	// THEN an instance may be snapshotted only when it is encrypted
	var instances int
	for _, st := range f.statementsOf(f.logicalID(t, "AWS::IAM::Role", "BackupStateMachineRole")) {
		if fmt.Sprint(st["Action"]) == "rds:CreateDBSnapshot" {
			instances++
			if got := fmt.Sprint(st["Condition"]); got != "map[BoolIfExists:map[rds:StorageEncrypted:true]]" {
				t.Errorf("CreateDBSnapshot on the instances if %s, want only if encrypted", got)
			}
		}
	}
	if instances != 1 {
		t.Errorf("want one CreateDBSnapshot statement on the instances, got %d", instances)
	}

	// AND the snapshot function may have RDS use the catalog's DR keys only
	// (creating grants for AWS resources, through RDS in the key's region)
	var grants []string
	for _, st := range f.statementsOf(f.logicalID(t, "AWS::IAM::Role", "SnapshotFunctionRole")) {
		if fmt.Sprint(st["Action"]) == "kms:CreateGrant" && !isBackupAccountGrant(st) {
			grants = append(grants, fmt.Sprint(st["Resource"]))
			if c := fmt.Sprint(st["Condition"]); !strings.Contains(c, "kms:GrantIsForAWSResource:true") || !strings.Contains(c, "kms:ViaService:rds.") {
				t.Errorf("kms:CreateGrant if %s", c)
			}
		}
	}
	sort.Strings(grants)
	if want := []string{"arn:aws:kms:eu-west-1:123456789012:key/eu-key", "arn:aws:kms:us-west-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"}; !slices.Equal(grants, want) {
		t.Errorf("kms:CreateGrant on %v, want the catalog's DR keys %v", grants, want)
	}
}

// alarmsOf returns a template's alarms by name.
func (f *fixture) alarmsOf() map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, res := range f.resources("AWS::CloudWatch::Alarm") {
		out[props(res)["AlarmName"].(string)] = props(res)
	}
	return out
}

// assertMetricAlarm checks an alarm on a backup metric of one catalog entry.
func assertMetricAlarm(t *testing.T, alarms map[string]map[string]any, name, namespace, metric, service, environment string, threshold float64) {
	t.Helper()
	a, ok := alarms[name]
	if !ok {
		t.Errorf("no alarm %s (have %v)", name, keys(alarms))
		return
	}
	dims := fmt.Sprint(a["Dimensions"])
	if a["Namespace"] != namespace || a["MetricName"] != metric || a["Threshold"] != threshold || a["Statistic"] != "Maximum" ||
		a["ComparisonOperator"] != "GreaterThanThreshold" || a["TreatMissingData"] != "ignore" ||
		!strings.Contains(dims, "Name:"+backup.DimensionService+" Value:"+service) || !strings.Contains(dims, "Name:"+backup.DimensionEnvironment+" Value:"+environment) {
		t.Errorf("alarm %s: %s/%s %v > %v (%v, %v), dimensions %s", name, a["Namespace"], a["MetricName"], a["Statistic"], a["Threshold"],
			a["ComparisonOperator"], a["TreatMissingData"], dims)
	}
}

// assertFailedExecutionsAlarm checks the alarm on a state machine's failed,
// timed-out and aborted executions.
func assertFailedExecutionsAlarm(t *testing.T, f *fixture, name, machineStem string) {
	t.Helper()
	a, ok := f.alarmsOf()[name]
	if !ok {
		t.Errorf("no alarm %s", name)
		return
	}
	body := fmt.Sprint(a["Metrics"])
	machine := f.logicalID(t, "AWS::StepFunctions::StateMachine", machineStem)
	for _, want := range []string{"ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted", "Ref:" + machine, "AWS/States"} {
		if !strings.Contains(body, want) {
			t.Errorf("alarm %s does not watch %s: %s", name, want, body)
		}
	}
	if a["Threshold"] != float64(1) || a["ComparisonOperator"] != "GreaterThanOrEqualToThreshold" || a["TreatMissingData"] != "notBreaching" {
		t.Errorf("alarm %s: %v %v %v", name, a["ComparisonOperator"], a["Threshold"], a["TreatMissingData"])
	}
}

func TestBackupAlarmsWatchTheRPOEachBackupRecordsAndFailedExecutions(t *testing.T) {
	// GIVEN the stack
	f := synthesized(t)
	alarms := f.alarmsOf()

	// WHEN its alarms are read
	// THEN each backed-up database has an RPO alarm at twice the longest gap
	// of its schedule (daily: 2 days; every 12 h: 1 day; every 6 h: 12 h), on
	// the metric the backup state machine publishes
	for _, tt := range []struct {
		service, environment string
		threshold            float64
	}{{"web", "production", 2 * 86400}, {"web", "qa", 86400}, {"api", "staging", 12 * 3600}} {
		assertMetricAlarm(t, alarms, "Stepship-backup-rpo-"+tt.service+"-"+tt.environment, backup.MetricNamespaceBackups, backup.MetricRPO,
			tt.service, tt.environment, tt.threshold)
	}
	// AND a failed, timed-out or aborted backup execution alarms
	assertFailedExecutionsAlarm(t, f, "Stepship-backup-failed", "BackupStateMachine")
	if len(alarms) != 4 {
		t.Errorf("alarms %v", keys(alarms))
	}
}

func TestAnAlarmOnAMetricNoStateMachinePublishesFailsTheSynth(t *testing.T) {
	// GIVEN the backup definition, and one whose metric was renamed
	asl := []byte(`{"States":{"RecordRPO":{"Type":"Task","Resource":"arn:aws:states:::aws-sdk:cloudwatch:putMetricData",
		"Parameters":{"Namespace":"Stepship/Backups","MetricData":[{"MetricName":"RPOSeconds","Dimensions":[{"Name":"Service"},{"Name":"Environment"}]}]}}}}`)

	// WHEN they are checked for the metric the alarms watch
	// THEN the first passes and the renamed one fails, naming the metric
	if err := checkPublished("backup.asl.json", asl, backup.MetricNamespaceBackups, backup.MetricRPO); err != nil {
		t.Errorf("published metric refused: %v", err)
	}
	renamed := []byte(strings.Replace(string(asl), "RPOSeconds", "RecoveryPoint", 1))
	if err := checkPublished("backup.asl.json", renamed, backup.MetricNamespaceBackups, backup.MetricRPO); err == nil || !strings.Contains(err.Error(), "Stepship/Backups/RPOSeconds") {
		t.Errorf("renamed metric: %v", err)
	}
	noDimension := []byte(strings.Replace(string(asl), `{"Name":"Environment"}`, `{"Name":"Env"}`, 1))
	if err := checkPublished("backup.asl.json", noDimension, backup.MetricNamespaceBackups, backup.MetricRPO); err == nil {
		t.Error("a metric without the Environment dimension passed")
	}
}

func TestTheDashboardShowsEveryDatabaseInEveryRegion(t *testing.T) {
	// GIVEN the stack
	f := synthesized(t)
	dashboards := f.resources("AWS::CloudWatch::Dashboard")
	if len(dashboards) != 1 {
		t.Fatalf("dashboards %v", dashboards)
	}
	var body string
	for _, d := range dashboards {
		raw, _ := json.Marshal(props(d)["DashboardBody"])
		body = string(raw)
	}

	// WHEN its body is read
	// THEN it graphs each database's backup RPO (home), each drilled one's
	// drill RPO and RTO (DR region), and both state machines' executions,
	// and lists the alarms of both regions
	for _, want := range []string{
		`Stepship/Backups\",\"RPOSeconds\",\"Environment\",\"production\",\"Service\",\"web`,
		`Stepship/Backups\",\"RPOSeconds\",\"Environment\",\"qa\",\"Service\",\"web`,
		`Stepship/DRDrills\",\"RTOSeconds\",\"Environment\",\"staging\",\"Service\",\"api`,
		`stateMachine:Stepship-dr-drill`, `\"region\":\"us-west-2\"`,
		`alarm:Stepship-dr-us-west-2-drill-rto-web-production`, `alarm:Stepship-dr-us-west-2-drill-failed`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the dashboard lacks %s", want)
		}
	}
}

func TestTheDRFunctionsStayOutOfTheHomeStackAndAFunctionsCapabilitiesMatchItsStack(t *testing.T) {
	// GIVEN the default functions, and a list giving a home capability to a
	// DR function
	home, dr := homeAndDR(DefaultFunctions())
	var names []string
	for _, f := range dr {
		names = append(names, f.Name)
	}

	// THEN restore and dr-verify are DR functions, and the wrong list is refused
	if !slices.Equal(names, []string{"restore", "dr-verify"}) || len(home) == 0 {
		t.Errorf("DR functions %v", names)
	}
	bad := append(DefaultFunctions(), FunctionSpec{Name: "x", MemoryMB: 128, Timeout: 10e9, Capabilities: []Capability{CopiesSnapshots}, DR: true})
	if err := validateFunctions(bad); err == nil || !strings.Contains(err.Error(), `capability "copies-snapshots" belongs to the home stack`) {
		t.Errorf("validateFunctions: %v", err)
	}
}

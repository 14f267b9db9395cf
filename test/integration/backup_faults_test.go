package integration

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/stepship/stepship/shared/backup"
	"github.com/stepship/stepship/shared/backup/rdssnap"
	"github.com/stepship/stepship/shared/catalog"
	"github.com/stepship/stepship/statemachines"
	"github.com/stepship/stepship/test/awsproxy"
	"github.com/stepship/stepship/test/localenv"
	"github.com/stepship/stepship/test/sfnlocal/tasks"
)

// The calls a clean backup and a clean drill make, by the Task state that
// makes them: "STATE: CALLER SERVICE ACTION (REGION)", or "STATE: Lambda
// invocation". TestBackupFaults reads the calls from what the proxy and the
// execution history saw, and fails when they differ from these lists: a call
// a machine or function starts making is never silently left out of the
// matrix. (CreateClusterSnapshot and the other Aurora calls are not
// reachable: catalog.yaml's web/production database is an RDS instance.)
var (
	backupMatrixCalls = []string{
		"Plan: Lambda invocation",
		"CreateSnapshot: states rds CreateDBSnapshot (home)",
		"DescribeSnapshot: states rds DescribeDBSnapshots (home)",
		"Copy: Lambda invocation",
		"Copy: snapshot rds DescribeDBSnapshots (dr)",
		"Copy: snapshot rds DescribeDBSnapshots (home)",
		"Copy: snapshot rds CopyDBSnapshot (dr)",
		"Share: Lambda invocation",
		"Share: snapshot rds DescribeDBSnapshots (dr)",
		"Share: snapshot kms CreateGrant (dr)",
		"Share: snapshot rds ModifyDBSnapshotAttribute (dr)",
		"AccountCopy: Lambda invocation",
		"AccountCopy: snapshot sts AssumeRole (home)",
		"AccountCopy: snapshot rds DescribeDBSnapshots (dr)",
		"AccountCopy: snapshot rds CopyDBSnapshot (dr)",
		"Unshare: Lambda invocation",
		"Unshare: snapshot rds ModifyDBSnapshotAttribute (dr)",
		"Unshare: snapshot kms ListGrants (dr)",
		"Unshare: snapshot kms RetireGrant (dr)",
		"Prune: Lambda invocation",
		"Prune: snapshot rds DescribeDBSnapshots (home)",
		"Prune: snapshot rds DeleteDBSnapshot (home)",
		"Prune: snapshot rds DescribeDBSnapshots (dr)",
		"Prune: snapshot rds DeleteDBSnapshot (dr)",
		"RecordRPO: states monitoring PutMetricData (home)",
	}
	// onceCalls are listed calls a warm function makes only once: the
	// snapshot function's AssumeRole into the backup account, whose
	// credentials it caches (up to an hour). The clean run makes it, no cell
	// can; a failure of it fails the AccountCopy call that needed the
	// credentials, the same path as the cells of AccountCopy's other calls.
	onceCalls        = []string{"AccountCopy: snapshot sts AssumeRole (home)"}
	drillMatrixCalls = []string{
		"Plan: Lambda invocation",
		"Pick: Lambda invocation",
		"Pick: restore rds DescribeDBSnapshots (dr)",
		"Expect: Lambda invocation",
		"Restore: Lambda invocation",
		"Restore: restore rds DescribeDBSnapshots (dr)",
		"Restore: restore rds AddTagsToResource (dr)",
		"Restore: restore rds RestoreDBInstanceFromDBSnapshot (dr)",
		"DescribeRestored: states rds DescribeDBInstances (dr)",
		"Verify: Lambda invocation",
		"Verify: dr-verify secretsmanager GetSecretValue (dr)",
		"RecordMetrics: states monitoring PutMetricData (dr)",
		"Cleanup: Lambda invocation",
		"Cleanup: restore rds DescribeDBInstances (dr)",
		"Cleanup: restore rds DeleteDBInstance (dr)",
		"Cleanup: restore rds DescribeDBSnapshots (dr)",
		"Cleanup: restore rds RemoveTagsFromResource (dr)",
		"Report: Lambda invocation",
		"Report: restore dynamodb PutItem (home)",
		"Notify: states sns Publish (dr)",
	}
)

// backupFaultsTimeoutScale divides the Task timeouts in the matrix's stack:
// a 30-second Task allows 0.3 s, a 300-second one 3 s — ample for calls that
// take about 10 ms, and short enough that the timeout cells, which hold a
// call past its Task's timeout, stay fast.
const backupFaultsTimeoutScale = 100

// The fault matrix of the backup and dr-drill machines: every AWS call a
// clean backup and a clean drill make (the machines' own SDK integrations
// and the snapshot, restore and dr-verify functions' calls, told apart by
// their SDK application id), at the Task state that makes it, and every
// Lambda invocation, each × {throttle, 5xx, timeout}. A throttle or a 5xx
// answers that call and every later one of its kind, so every retry gives
// up; a timeout holds it once past its Task's timeout. The functions try
// each call once (localenv.WithFunctionAttempts(1)), so that a fault reaches
// the state machine's Retry and Catch at once and at their scaled pace.
// Every cell must end named (a Succeed state, or an error the machine or
// its functions name), leave no drill database and no copy marked in use
// (but for CleanupFailed, whose cause names what is left), and delete
// nothing that retention keeps: before each backup cell the test seeds old
// snapshots retention must keep (in use by a drill, taken by hand, of
// another database) and old ones it may delete, in both regions. The matrix
// is printed.
func TestBackupFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the local stack with its backups")
	}
	// The two fault matrices run side by side, each on its own local stack,
	// after the package's other tests: most of their time is waiting.
	t.Parallel()
	start := time.Now()
	w := startBackupWorld(t, localenv.WithTimeoutScale(backupFaultsTimeoutScale), localenv.WithFunctionAttempts(1))
	m := newBackupMatrix(t, w)
	// The snapshot is creating for a poll; a copy is available at once (a
	// drill's listing would count as a poll of a copy a concurrent backup
	// makes); a restored database is creating for 2 polls, then answers at
	// the PostgreSQL.
	defer awsproxy.RDSScript{Region: localenv.Region, SnapshotPolls: 1}.Install(w.e.Proxy).Remove()
	defer awsproxy.RDSScript{Region: w.e.BackupSpec.DRRegion, InstancePolls: 2, RestoredEndpoint: w.pgAddr}.Install(w.e.Proxy).Remove()
	m.seedKeepers(t)

	lanes := [][]matrixRow{
		m.cleanRun(t, statemachines.Backup, backupMatrixCalls),
		m.cleanRun(t, statemachines.DRDrill, drillMatrixCalls),
	}
	// The backup cells and the drill cells run side by side: their faults
	// select calls of other callers or regions, and each cell's checks
	// look at what only its machine changes.
	cells := make([][]string, len(lanes))
	took := make([]time.Duration, len(lanes))
	var wg sync.WaitGroup
	for i, rows := range lanes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			laneStart := time.Now()
			defer func() { took[i] = time.Since(laneStart) }()
			for _, row := range rows {
				for _, f := range matrixFaults {
					t.Run(row.machine+" "+row.String()+" "+f.name, func(t *testing.T) {
						c := m.cell(t, row, f)
						cells[i] = append(cells[i], fmt.Sprintf("%s %s\t%s\t%s\t%s\t%d\t%s\n",
							row.machine, row, f.name, c.outcome, c.left, c.states, c.took.Round(10*time.Millisecond)))
					})
				}
			}
		}()
	}
	wg.Wait()
	m.checkKeepers(t)
	var table strings.Builder
	tw := tabwriter.NewWriter(&table, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "call\tfault\toutcome\tleft behind\tstates\ttook")
	for _, lane := range cells {
		for _, line := range lane {
			fmt.Fprint(tw, line)
		}
	}
	tw.Flush()
	if errs := w.e.Proxy.Errors(); len(errs) > 0 {
		t.Errorf("the proxy's scripts failed: %v", errs)
	}
	t.Logf("the backup and dr-drill machines' fault matrix: %d cells (backup %s, drill %s, side by side; %s with the stack's start):\n%s",
		len(cells[0])+len(cells[1]), took[0].Round(100*time.Millisecond), took[1].Round(100*time.Millisecond), time.Since(start).Round(100*time.Millisecond), table.String())
}

// matrixFault is one column of the matrix.
type matrixFault struct {
	name string
	// effect answers the call (from the row's first call on) or, for a
	// timeout, holds it (that call only) past the Task's timeout.
	effect func(row matrixRow) (awsproxy.Window, awsproxy.Effect)
	// lambda is the invocation's error; a timeout throws it once.
	lambda tasks.MockThrow
}

var matrixFaults = []matrixFault{
	{name: "throttle", effect: func(r matrixRow) (awsproxy.Window, awsproxy.Effect) {
		return awsproxy.FromCall(r.from), awsproxy.Throttle()
	}, lambda: tasks.MockThrow{Error: "Lambda.TooManyRequestsException", Cause: "Rate Exceeded."}},
	{name: "5xx", effect: func(r matrixRow) (awsproxy.Window, awsproxy.Effect) {
		return awsproxy.FromCall(r.from), awsproxy.ServerError()
	}, lambda: tasks.MockThrow{Error: "Lambda.ServiceException", Cause: "Internal error."}},
	// Held half its Task's timeout longer than that timeout: a function's
	// retried invocation waits for the held one (the runtime emulator runs
	// one at a time, as one Lambda instance does) and still has time left.
	{name: "timeout", effect: func(r matrixRow) (awsproxy.Window, awsproxy.Effect) {
		return awsproxy.Nth(r.from), awsproxy.Delay(r.timeout * 3 / 2)
	}, lambda: tasks.MockThrow{Error: "States.Timeout", Cause: "the Task timed out"}},
}

// matrixRow is one call of the matrix: made by app (a function's name, or
// localenv.StatesAppID for the machine's own integrations) in a Task state,
// or that state's Lambda invocation.
type matrixRow struct {
	machine                      string // statemachines.Backup or DRDrill
	state                        string
	lambda                       bool
	app, service, action, region string // region: "home" or "dr"
	// from is the number of the row's first call among the calls of its
	// caller, service, region and action in a run: a fault selects it, and
	// not the same call an earlier state made.
	from int
	// timeout is the Task's timeout at the stack's scale.
	timeout time.Duration
}

func (r matrixRow) String() string {
	if r.lambda {
		return r.state + ": Lambda invocation"
	}
	return fmt.Sprintf("%s: %s %s %s (%s)", r.state, strings.TrimPrefix(r.app, "stepship-"), r.service, r.action, r.region)
}

// backupMatrix runs the cells in one local stack.
type backupMatrix struct {
	w *backupWorld
	// machines: each machine's ARN, its Task states and its named outcomes.
	machines map[string]*matrixMachine
	// retention is the catalog's for the database, preDeploy its
	// pre-deploy snapshots' (backup.Prune).
	retention catalog.Retention
	preDeploy *catalog.Retention
	// keepers are the snapshots seedKeepers made; fodder counts the old
	// ones seeded for pruning.
	keepers []string
	fodder  int
}

type matrixMachine struct {
	arn    string
	states map[string]aslState
	// outcomes are the named ends: Succeed states and the errors the
	// machine's Fail and Pass states or the functions (shared/taskerr) name.
	outcomes map[string]bool
}

type aslState struct {
	Type           string
	Resource       string
	TimeoutSeconds int
	Error          string
	Parameters     map[string]any
}

func newBackupMatrix(t *testing.T, w *backupWorld) *backupMatrix {
	t.Helper()
	m := &backupMatrix{w: w, machines: map[string]*matrixMachine{}}
	cat, err := catalog.Load(w.e.Catalog)
	if err != nil {
		t.Fatal(err)
	}
	tg, err := cat.Resolve("web", "production")
	if err != nil {
		t.Fatal(err)
	}
	m.retention, m.preDeploy = tg.Backup.Retention, tg.Backup.PreDeployRetention()
	named := taskerrNames(t, w.e.Root)
	for name, arn := range map[string]string{statemachines.Backup: w.e.BackupStateMachineARN, statemachines.DRDrill: w.e.DrillStateMachineARN} {
		raw, err := statemachines.Definition(name)
		if err != nil {
			t.Fatal(err)
		}
		var def struct{ States map[string]aslState }
		if err := json.Unmarshal(raw, &def); err != nil {
			t.Fatal(err)
		}
		mm := &matrixMachine{arn: arn, states: def.States, outcomes: map[string]bool{}}
		for n := range named {
			mm.outcomes[n] = true
		}
		for sname, s := range def.States {
			switch {
			case s.Type == "Succeed":
				mm.outcomes[sname] = true
			case s.Type == "Fail" && s.Error != "":
				mm.outcomes[s.Error] = true
			case s.Type == "Pass":
				// {"Error": …} as the error slot, or a failure notice's {"error": {"Error": …}}.
				if e, ok := s.Parameters["Error"].(string); ok {
					mm.outcomes[e] = true
				}
				if nested, ok := s.Parameters["error"].(map[string]any); ok {
					if e, ok := nested["Error"].(string); ok {
						mm.outcomes[e] = true
					}
				}
			}
		}
		m.machines[name] = mm
	}
	return m
}

// taskerrNames are the named errors of the functions: the exported error
// types of shared/taskerr (aws-lambda-go reports an error by its type's
// name).
func taskerrNames(t *testing.T, root string) map[string]bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, "shared", "taskerr", "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Name.Name == "Error" && fd.Recv != nil {
				if star, ok := fd.Recv.List[0].Type.(*ast.StarExpr); ok {
					if id, ok := star.X.(*ast.Ident); ok && id.IsExported() {
						names[id.Name] = true
					}
				}
			}
		}
	}
	if !names["RDSCallFailed"] || !names["DatabaseUnreachable"] {
		t.Fatalf("shared/taskerr's error types: %v", names)
	}
	return names
}

// regionLabel names a region as the matrix does.
func (m *backupMatrix) regionLabel(region string) string {
	if region == m.w.e.BackupSpec.DRRegion {
		return "dr"
	}
	return "home"
}

func (m *backupMatrix) region(label string) string {
	if label == "dr" {
		return m.w.e.BackupSpec.DRRegion
	}
	return localenv.Region
}

// start runs machine once, unfaulted unless the caller installed a fault.
func (m *backupMatrix) start(t *testing.T, machine string) (*sfn.DescribeExecutionOutput, []string) {
	t.Helper()
	if machine == statemachines.Backup {
		return m.w.backupRun(t)
	}
	return m.w.run(t, m.machines[machine].arn, m.w.drillInput(t, `,"expectedSchemaVersion":3`))
}

// cleanRun runs machine unfaulted, reads which Task state made each call
// the proxy saw, and returns the matrix's rows in the order the calls came;
// the test fails when they are not the calls listed in want.
func (m *backupMatrix) cleanRun(t *testing.T, machine string, want []string) []matrixRow {
	t.Helper()
	mm := m.machines[machine]
	p := m.w.e.Proxy
	if machine == statemachines.Backup {
		m.seedFodder(t)
	}
	p.ResetCalls()
	out, path := m.start(t, machine)
	arn := aws.ToString(out.ExecutionArn)
	if out.Status != sfntypes.ExecutionStatusSucceeded {
		t.Fatalf("the clean %s run %s %s: %s; path %v", machine, out.Status, aws.ToString(out.Error), aws.ToString(out.Cause), path)
	}
	hist, err := m.w.e.History(t.Context(), arn)
	if err != nil {
		t.Fatal(err)
	}
	type span struct {
		state    string
		from, to time.Time
	}
	var spans []span
	for _, ev := range hist {
		switch ev.Type {
		case sfntypes.HistoryEventTypeTaskStateEntered:
			spans = append(spans, span{state: aws.ToString(ev.StateEnteredEventDetails.Name), from: aws.ToTime(ev.Timestamp)})
		case sfntypes.HistoryEventTypeTaskStateExited:
			// History times are in whole milliseconds.
			spans[len(spans)-1].to = aws.ToTime(ev.Timestamp).Add(time.Millisecond)
		}
	}
	var rows []matrixRow
	seen := map[string]bool{}
	add := func(r matrixRow) {
		if !seen[r.String()] {
			seen[r.String()] = true
			r.machine = machine
			r.timeout = time.Duration(mm.states[r.state].TimeoutSeconds) * time.Second / backupFaultsTimeoutScale
			rows = append(rows, r)
		}
	}
	calls := p.Calls()
	counts := map[string]int{}
	// A call belongs to the Task state it came in. History times are whole
	// milliseconds, so a call at the edge of two states may fall in both:
	// then it is the state whose kind of caller made it (a function's call
	// in the state that invokes a function, the service's own — app
	// localenv.StatesAppID — in a state that is an SDK integration).
	function := func(sp span) bool { return strings.HasPrefix(mm.states[sp.state].Resource, "${") }
	byState := map[int][]awsproxy.Call{}
	for _, c := range calls {
		owner := -1
		for i, sp := range spans {
			if c.Start.Before(sp.from.Truncate(time.Millisecond)) || !c.Start.Before(sp.to) {
				continue
			}
			// The first state it may belong to, unless a later one is of the
			// caller's kind and that one is not.
			fits := func(j int) bool { return function(spans[j]) == (c.App != localenv.StatesAppID) }
			if owner < 0 || (!fits(owner) && fits(i)) {
				owner = i
			}
		}
		if owner < 0 {
			t.Errorf("call %s by %q came outside any Task state", c.Target, c.App)
			continue
		}
		byState[owner] = append(byState[owner], c)
	}
	for i, sp := range spans {
		if function(sp) {
			add(matrixRow{state: sp.state, lambda: true})
		}
		for _, c := range byState[i] {
			key := c.App + " " + c.Target.String()
			counts[key]++
			add(matrixRow{state: sp.state, app: c.App, service: c.Service, action: c.Action, region: m.regionLabel(c.Region), from: counts[key]})
		}
	}
	var got []string
	for _, r := range rows {
		got = append(got, r.String())
	}
	for _, g := range got {
		if !slices.Contains(want, g) {
			t.Errorf("the %s machine made a call the matrix does not list: %q (add it to the list)", machine, g)
		}
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("the %s machine no longer made %q (remove it from the list)", machine, w)
		}
	}
	if t.Failed() {
		t.Fatalf("the calls of a clean %s run:\n%s", machine, awsproxy.CallTable(calls))
	}
	return slices.DeleteFunc(rows, func(r matrixRow) bool { return slices.Contains(onceCalls, r.String()) })
}

// matrixCell is what one cell did.
type matrixCell struct {
	outcome, left string
	states        int
	took          time.Duration
}

// cell runs row's machine with fault f on row's call, and checks what
// every cell must hold.
func (m *backupMatrix) cell(t *testing.T, row matrixRow, f matrixFault) matrixCell {
	mm := m.machines[row.machine]
	// A backup may delete snapshots; a drill may leave a database or a
	// copy in use (the end of the matrix checks the keepers once more).
	var before map[string][]backup.Snapshot
	var inUseBefore map[string]string
	if row.machine == statemachines.Backup {
		m.seedFodder(t)
		before = m.snapshots(t)
	} else {
		inUseBefore = m.w.inUse(t)
	}
	var fired func() int
	if row.lambda {
		rule := tasks.MockRule{StateMachine: stateMachineName(mm.arn), State: row.state}
		mocks := m.w.e.Server.Mocks()
		if f.name == "timeout" {
			mocks.Pin(rule, tasks.MockResponse{Throw: &f.lambda}, tasks.Passthrough())
		} else {
			mocks.Pin(rule, tasks.MockResponse{Throw: &f.lambda})
		}
		defer mocks.Pin(rule, tasks.Passthrough()) // not Reset: the other machine's cell may have a pin
	} else {
		calls, effect := f.effect(row)
		h := m.w.e.Proxy.Add(awsproxy.Rule{Service: row.service, Region: m.region(row.region), Action: row.action, App: row.app, Calls: calls, Effect: effect})
		defer h.Remove()
		fired = h.Fired
	}
	start := time.Now()
	out, path := m.start(t, row.machine)
	c := matrixCell{states: len(path), took: time.Since(start)}
	if (fired != nil && fired() == 0) || !slices.Contains(path, row.state) {
		made := slices.DeleteFunc(m.w.e.Proxy.Calls(), func(c awsproxy.Call) bool { return c.Start.Before(start) })
		t.Errorf("the fault never reached the call (path %v); the calls this cell made:\n%s", path, awsproxy.CallTable(made))
	}
	cause := aws.ToString(out.Cause)
	switch {
	case out.Status == sfntypes.ExecutionStatusSucceeded:
		c.outcome = path[len(path)-1]
	case out.Status == sfntypes.ExecutionStatusFailed:
		c.outcome = aws.ToString(out.Error)
	default:
		c.outcome = string(out.Status)
	}
	if !mm.outcomes[c.outcome] {
		t.Errorf("ended %s %q (%s): not a named outcome of the %s machine; path %v", out.Status, c.outcome, cause, row.machine, path)
	}
	if row.machine == statemachines.Backup {
		c.left = m.shareLeft(t, c.outcome, cause)
		m.checkKept(t, before)
	} else {
		c.left = m.leftBehind(t, inUseBefore, c.outcome, cause)
	}
	return c
}

// shareLeft checks that a backup left the newest DR copy shared with no
// account and no grant on the DR key for it, except after UnshareFailed,
// whose cause must say how to end the share; it then ends it by hand, as
// the cause says to.
func (m *backupMatrix) shareLeft(t *testing.T, outcome, cause string) string {
	t.Helper()
	spec := m.w.e.BackupSpec
	snaps, err := rdssnap.Snapshots{Client: m.w.dr, Database: catalog.Database{Instance: spec.Database}}.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	newest, ok := backup.Newest(snaps, spec.Database)
	if !ok {
		return "-"
	}
	if outcome != "UnshareFailed" {
		m.w.notShared(t, newest.ID)
		return "-"
	}
	if !strings.Contains(cause, "--values-to-remove "+spec.BackupAccount) || !strings.Contains(cause, backup.ShareGrantName(newest.ID)) {
		t.Errorf("UnshareFailed, and the cause does not say how to end the share of %s: %s", newest.ID, cause)
	}
	ctx := t.Context()
	if _, err := m.w.dr.ModifyDBSnapshotAttribute(ctx, &rds.ModifyDBSnapshotAttributeInput{DBSnapshotIdentifier: aws.String(newest.ID),
		AttributeName: aws.String("restore"), ValuesToRemove: []string{spec.BackupAccount}}); err != nil {
		t.Fatal(err)
	}
	for _, id := range m.w.shareGrants(t, newest.ID) {
		if _, err := m.w.drKeys.RevokeGrant(ctx, &kms.RevokeGrantInput{KeyId: aws.String(spec.DRKMSKey), GrantId: aws.String(id)}); err != nil {
			t.Fatal(err)
		}
	}
	m.w.notShared(t, newest.ID)
	return "share of " + newest.ID + " (the cause says how to end it)"
}

// stateMachineName is the name in a state machine's ARN.
func stateMachineName(arn string) string { return arn[strings.LastIndexByte(arn, ':')+1:] }

// leftBehind checks that a drill left no database and marked no copy in use
// (beyond those in use before), except after CleanupFailed, whose cause
// must name what is left; it then deletes that by hand, as the cause says
// to.
func (m *backupMatrix) leftBehind(t *testing.T, inUseBefore map[string]string, outcome, cause string) string {
	t.Helper()
	dbs := m.w.drillDatabases(t)
	var copies []string
	for id, by := range m.w.inUse(t) {
		if inUseBefore[id] == "" {
			copies = append(copies, id)
			if !strings.Contains(cause, id) {
				t.Errorf("copy %s is left in use by %s, and the cause does not name it: %s", id, by, cause)
			}
		}
	}
	for _, db := range dbs {
		if !strings.Contains(cause, db) {
			t.Errorf("drill database %s is left, and the cause does not name it: %s", db, cause)
		}
	}
	if len(dbs)+len(copies) == 0 {
		return "-"
	}
	if outcome != "CleanupFailed" {
		t.Errorf("%s left %v and copies %v in use", outcome, dbs, copies)
	}
	m.w.deleteByHand(t, dbs, copies)
	left := slices.Clone(dbs)
	for _, id := range copies {
		left = append(left, "copy "+id+" in use")
	}
	return strings.Join(left, ", ") + " (the cause names them)"
}

// snapshots lists the database's manual snapshots in both regions.
func (m *backupMatrix) snapshots(t *testing.T) map[string][]backup.Snapshot {
	t.Helper()
	out := map[string][]backup.Snapshot{}
	for label, c := range map[string]*rds.Client{"home": m.w.home, "dr": m.w.dr} {
		s, err := rdssnap.Snapshots{Client: c, Database: catalog.Database{Instance: m.w.e.BackupSpec.Database}}.List(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		out[label] = s
	}
	return out
}

// checkKept fails when a snapshot retention keeps was deleted: one that is
// not stepship's of the database, or that retention keeps even after one
// newer available snapshot (what a backup adds) — in use, not available,
// younger than retention.days, or still among the newest retention.count.
func (m *backupMatrix) checkKept(t *testing.T, before map[string][]backup.Snapshot) {
	t.Helper()
	db := m.w.e.BackupSpec.Database
	after := m.snapshots(t)
	for label, snaps := range before {
		newer := append(slices.Clone(snaps), backup.Snapshot{ID: "a-newer-one", Status: backup.StatusAvailable, TakenAt: time.Now().Add(time.Hour),
			Tags: map[string]string{backup.TagManagedBy: backup.ManagedBy, backup.TagDatabase: db}})
		keep := map[string]string{}
		var pre *catalog.Retention // told apart in the home region only
		if label == "home" {
			pre = m.preDeploy
		}
		for _, d := range backup.Prune(newer, db, m.retention, pre, time.Now()).Keep {
			keep[d.Snapshot] = d.Reason
		}
		for _, s := range snaps {
			if !s.Ours(db) {
				keep[s.ID] = "not stepship's snapshot of " + db
			}
		}
		for id, reason := range keep {
			if id != "a-newer-one" && !slices.ContainsFunc(after[label], func(s backup.Snapshot) bool { return s.ID == id }) {
				t.Errorf("snapshot %s was deleted from the %s region, though retention keeps it: %s", id, label, reason)
			}
		}
	}
}

// checkKeepers fails when a snapshot seedKeepers made is gone.
func (m *backupMatrix) checkKeepers(t *testing.T) {
	t.Helper()
	for label, snaps := range m.snapshots(t) {
		for _, id := range m.keepers {
			if !slices.ContainsFunc(snaps, func(s backup.Snapshot) bool { return s.ID == id }) {
				t.Errorf("snapshot %s, which retention keeps, is gone from the %s region", id, label)
			}
		}
	}
}

// seedKeepers seeds, in both regions, snapshots retention must keep: the
// newest available ones, young ones, and old ones in use by a drill, taken
// by hand, or of another database.
func (m *backupMatrix) seedKeepers(t *testing.T) {
	t.Helper()
	day := 24 * time.Hour
	w := m.w
	keep := func(id string, age time.Duration, tags map[string]string) {
		w.seedSnapshot(t, id, age, tags, true)
		m.keepers = append(m.keepers, id)
	}
	for i := 1; i <= 3; i++ {
		keep(fmt.Sprintf("keep-young-%dd", i), time.Duration(i)*day, w.ours(nil))
	}
	keep("keep-old-in-use", 40*day, w.ours(map[string]string{backup.TagInUseBy: "drill-web-prod-202611010500"}))
	keep("keep-old-by-hand", 90*day, nil)
	keep("keep-old-other-database", 40*day, w.ours(map[string]string{backup.TagDatabase: "another-db"}))
}

// seedFodder seeds, in both regions, an old snapshot of stepship's that
// retention deletes: every backup has something to prune.
func (m *backupMatrix) seedFodder(t *testing.T) {
	t.Helper()
	m.fodder++
	m.w.seedSnapshot(t, fmt.Sprintf("prune-me-%d", m.fodder), 40*24*time.Hour, m.w.ours(nil), true)
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/stepship/stepship/shared/backup"
	"github.com/stepship/stepship/shared/ledger"
	"github.com/stepship/stepship/test/awsproxy"
	"github.com/stepship/stepship/test/localenv"
	"github.com/stepship/stepship/test/world"
)

// recovered is a backup's or a drill's run, followed to its end, and its
// line of the summary.
type recovered struct {
	desc    *sfn.DescribeExecutionOutput
	summary string
}

// succeeds starts an execution of machine with the events/ fixture as its
// input, follows it state by state, and fails unless it succeeded.
func succeeds(ctx context.Context, e *localenv.Env, p printer, machine, fixture string) (*sfn.DescribeExecutionOutput, error) {
	input, err := e.Fixture(fixture)
	if err != nil {
		return nil, err
	}
	x, err := e.SFN.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(machine), Input: aws.String(string(input))})
	if err != nil {
		return nil, fmt.Errorf("failed to start %s: %w", machine, err)
	}
	p.line("execution %s (input: events/%s)", aws.ToString(x.ExecutionArn), fixture)
	desc, err := follow(ctx, e, aws.ToString(x.ExecutionArn), p)
	if err == nil && desc.Status != sfntypes.ExecutionStatusSucceeded {
		err = fmt.Errorf("%s ended %s %s: %s", aws.ToString(x.ExecutionArn), desc.Status, aws.ToString(desc.Error), aws.ToString(desc.Cause))
	}
	return desc, err
}

// backupRun takes a backup of the demo's database: the snapshot, its copy
// to the DR region, retention in both, the RPO. RDS, played by the emulator
// behind the proxy, answers "creating" for one poll of each.
func backupRun(ctx context.Context, e *localenv.Env, p printer) (recovered, error) {
	spec := e.BackupSpec
	p.section(fmt.Sprintf("A backup of %s (statemachines/backup.asl.json), state by state", spec.Database))
	p.line("a snapshot, its copy to %s re-encrypted with the DR key, retention in both regions, the RPO; each wait is a minute, here 30 ms", spec.DRRegion)
	defer awsproxy.RDSScript{Region: localenv.Region, SnapshotPolls: 1}.Install(e.Proxy).Remove()
	defer awsproxy.RDSScript{Region: spec.DRRegion, SnapshotPolls: 1}.Install(e.Proxy).Remove()
	// A backup's data is from its start, to the second (its taken-at tag):
	// start in a second after the last deploy ended.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
	desc, err := succeeds(ctx, e, p, e.BackupStateMachineARN, "backup-now.json")
	if err != nil {
		return recovered{}, err
	}
	var out struct {
		Plan  struct{ Snapshot string }
		Copy  struct{ Region string }
		Prune struct{ RPOSeconds *int64 }
	}
	if err := json.Unmarshal([]byte(aws.ToString(desc.Output)), &out); err != nil || out.Prune.RPOSeconds == nil {
		return recovered{}, fmt.Errorf("the backup's output %s: %v", aws.ToString(desc.Output), err)
	}
	took := ms(aws.ToTime(desc.StopDate).Sub(aws.ToTime(desc.StartDate)))
	p.line("→ BackedUp in %s: %s in %s and %s", took, out.Plan.Snapshot, localenv.Region, out.Copy.Region)
	p.line("  RPO %d s: the age of the newest copy's data in %s (Stepship/Backups RPOSeconds)", *out.Prune.RPOSeconds, out.Copy.Region)
	return recovered{desc: desc, summary: fmt.Sprintf("BackedUp: %s copied to %s, RPO %d s", out.Plan.Snapshot, out.Copy.Region, *out.Prune.RPOSeconds)}, nil
}

// drillRun rehearses a recovery in the DR region: the newest copy restored
// (the restored database answers at the demo's PostgreSQL), verified against
// the version the ledger recorded, measured, deleted, reported and
// published.
func drillRun(ctx context.Context, e *localenv.Env, p printer) (recovered, error) {
	spec := e.BackupSpec
	p.section(fmt.Sprintf("A disaster-recovery drill in %s (statemachines/dr-drill.asl.json), state by state", spec.DRRegion))
	p.line("the newest copy restored into the isolated drill network (the restored database is the local PostgreSQL), checked, measured, deleted")
	defer awsproxy.RDSScript{Region: spec.DRRegion, SnapshotPolls: 1, InstancePolls: 1,
		RestoredEndpoint: fmt.Sprintf("%s:%d", e.Postgres.Host, e.Postgres.Port)}.Install(e.Proxy).Remove()
	desc, err := succeeds(ctx, e, p, e.DrillStateMachineARN, "dr-drill.json")
	if err != nil {
		return recovered{}, err
	}
	var out struct {
		Picked      struct{ RPOSeconds int64 }
		DrillReport struct {
			Recorded bool
			Report   backup.DrillReport
		}
	}
	if err := json.Unmarshal([]byte(aws.ToString(desc.Output)), &out); err != nil {
		return recovered{}, fmt.Errorf("the drill's output %s: %v", aws.ToString(desc.Output), err)
	}
	r := out.DrillReport.Report
	if !out.DrillReport.Recorded || r.RTOSeconds == nil || r.RPOSeconds == nil || r.TakenAt == nil || r.SchemaVersion == nil {
		return recovered{}, fmt.Errorf("the drill's report %s", aws.ToString(desc.Output))
	}
	hist, err := e.History(ctx, aws.ToString(desc.ExecutionArn))
	if err != nil {
		return recovered{}, err
	}
	p.line("→ %s in %s", r.Outcome, ms(aws.ToTime(desc.StopDate).Sub(aws.ToTime(desc.StartDate))))
	p.line("  RPO %d s: the restored copy's data is from %s (Stepship/DRDrills RPOSeconds)", *r.RPOSeconds, r.TakenAt.Format(time.RFC3339))
	p.line("  RTO %d s: from the restore's start to verified data (Stepship/DRDrills RTOSeconds); %s here, each wait scaled 1/%d",
		*r.RTOSeconds, ms(between(hist, "Restore", "Verify")), int(localenv.BackupTimeScale))
	records, err := world.DrillRecords(ctx, e.AWS, e.Releases, r.Service, r.Environment)
	if err != nil {
		return recovered{}, err
	}
	if len(records) == 0 || records[len(records)-1].Report.Execution != r.Execution {
		return recovered{}, fmt.Errorf("the ledger holds no report of %s", r.Execution)
	}
	rec := records[len(records)-1]
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, []byte(rec.Raw), "      ", "  "); err != nil {
		return recovered{}, err
	}
	p.line("  the drill report, in the ledger (%s, table %s, %s / %s):", localenv.Region, e.Releases.Table, ledger.DrillKey(r.Service, r.Environment), rec.SortKey)
	p.line("    %s", pretty.String())
	sent, err := e.DRTopic.Notifications(ctx, e.AWS)
	if err != nil {
		return recovered{}, err
	}
	if len(sent) != 1 {
		return recovered{}, fmt.Errorf("the drill published %d notifications, want 1", len(sent))
	}
	p.line("  published to %s: %q (the message is the report)", e.DRTopic.ARN, sent[0].Subject)
	return recovered{desc: desc, summary: fmt.Sprintf("%s: %s restored in %s, schema version %d as the ledger recorded, RTO %d s, RPO %d s; reported and published",
		r.Outcome, r.Snapshot, spec.DRRegion, *r.SchemaVersion, *r.RTOSeconds, *r.RPOSeconds)}, nil
}

// between is the time from entering the state from to leaving the state to
// (their first occurrences) in an execution's history.
func between(hist []sfntypes.HistoryEvent, from, to string) time.Duration {
	var start, end time.Time
	for _, ev := range hist {
		if d := ev.StateEnteredEventDetails; d != nil && aws.ToString(d.Name) == from && start.IsZero() {
			start = aws.ToTime(ev.Timestamp)
		}
		if d := ev.StateExitedEventDetails; d != nil && aws.ToString(d.Name) == to && end.IsZero() {
			end = aws.ToTime(ev.Timestamp)
		}
	}
	return end.Sub(start)
}

// recoveryOutcome says in a few words what a state of the backup or the
// drill machine produced; false for the deploy machine's states.
func recoveryOutcome(state, output string) (string, bool) {
	var o struct {
		Plan *struct {
			Snapshot string `json:"snapshot"`
			Database string `json:"database"`
			Restored *struct {
				Instance string `json:"instance"`
			} `json:"restored"`
		} `json:"plan"`
		SnapshotState *struct {
			Status string `json:"status"`
		} `json:"snapshotState"`
		Copy *struct {
			Region string `json:"region"`
			Status string `json:"status"`
		} `json:"copy"`
		Prune *struct {
			RPOSeconds *int64 `json:"rpoSeconds"`
		} `json:"prune"`
		Picked *struct {
			Snapshot   string    `json:"snapshot"`
			TakenAt    time.Time `json:"takenAt"`
			RPOSeconds int64     `json:"rpoSeconds"`
		} `json:"picked"`
		Expected *backup.Expectation `json:"expected"`
		Restore  *struct {
			Instance string `json:"instance"`
		} `json:"restore"`
		Instance *struct {
			DB struct {
				DBInstanceStatus string
			} `json:"db"`
		} `json:"instance"`
		Report  *backup.Verification `json:"report"`
		Cleanup *struct {
			Deleted  []string `json:"deleted"`
			Released string   `json:"released"`
		} `json:"cleanup"`
		DrillReport *struct {
			Subject     string `json:"subject"`
			Recorded    bool   `json:"recorded"`
			RecordError string `json:"recordError"`
		} `json:"drillReport"`
	}
	_ = json.Unmarshal([]byte(output), &o)
	switch {
	case strings.HasPrefix(state, "Wait"):
		return "waited", true
	case state == "Plan" && o.Plan != nil && o.Plan.Snapshot != "":
		return fmt.Sprintf("catalog: snapshot %s of %s", o.Plan.Snapshot, o.Plan.Database), true
	case state == "Plan" && o.Plan != nil && o.Plan.Restored != nil:
		return "catalog: restore as " + o.Plan.Restored.Instance, true
	case state == "CreateSnapshot":
		return "snapshot started, tagged stepship's", true
	case state == "DescribeSnapshot" && o.SnapshotState != nil:
		return "snapshot " + o.SnapshotState.Status, true
	case state == "Copy" && o.Copy != nil:
		return fmt.Sprintf("copy in %s: %s", o.Copy.Region, o.Copy.Status), true
	case state == "Prune" && o.Prune != nil && o.Prune.RPOSeconds != nil:
		return fmt.Sprintf("retention applied in both regions; RPO %d s", *o.Prune.RPOSeconds), true
	case state == "RecordRPO":
		return "RPO recorded (Stepship/Backups)", true
	case state == "Pick" && o.Picked != nil:
		return fmt.Sprintf("newest copy %s, data from %s", o.Picked.Snapshot, o.Picked.TakenAt.Format(time.RFC3339)), true
	case state == "Expect" && o.Expected != nil && len(o.Expected.Versions) > 0:
		return fmt.Sprintf("the ledger recorded schema version %s for that time", strings.Trim(fmt.Sprint(o.Expected.Versions), "[]")), true
	case state == "Expect" && o.Expected != nil:
		return "no version to compare with (" + string(o.Expected.Source) + ")", true
	case state == "Restore" && o.Restore != nil:
		return "restoring " + o.Restore.Instance + " (isolated subnet group, drill security group)", true
	case state == "DescribeRestored" && o.Instance != nil:
		return "database " + o.Instance.DB.DBInstanceStatus, true
	case state == "Verify" && o.Report != nil:
		n := 0
		for _, c := range o.Report.Checks {
			if c.Passed {
				n++
			}
		}
		return fmt.Sprintf("%d of %d checks passed (schema version, tables, assertions)", n, len(o.Report.Checks)), true
	case state == "RecordMetrics":
		return "RTO and RPO recorded (Stepship/DRDrills)", true
	case state == "Cleanup" && o.Cleanup != nil:
		return fmt.Sprintf("deleted %s; copy %s released", strings.Join(o.Cleanup.Deleted, ", "), o.Cleanup.Released), true
	case state == "Report" && o.DrillReport != nil && o.DrillReport.Recorded:
		return "report recorded in the ledger (home region)", true
	case state == "Report" && o.DrillReport != nil:
		return "report not recorded: " + o.DrillReport.RecordError, true
	case state == "Notify" && o.DrillReport != nil:
		return "published: " + o.DrillReport.Subject, true
	}
	return "", false
}

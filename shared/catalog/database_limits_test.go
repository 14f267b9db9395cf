package catalog

import (
	"strings"
	"testing"
)

// Every bound of a database, backup or drill entry, exactly at the bound and
// one past it, and the drill fields no other test gets wrong.
func TestDataLimits(t *testing.T) {
	const query = "query: select count(*) from users where role = 'admin'"
	queryOf := func(n int) string { return "query: select " + strings.Repeat("1", n-len("select ")) }
	tests := []struct {
		name     string
		old, new string
		want     string // empty: valid
	}{
		{"retention of one snapshot", "{count: 7, days: 14}", "{count: 1, days: 14}", ""},
		{"retention of one day", "{count: 7, days: 14}", "{count: 7, days: 1}", ""},
		{"retention of 3650 days", "{count: 7, days: 14}", "{count: 7, days: 3650}", ""},
		{"retention of 3651 days", "{count: 7, days: 14}", "{count: 7, days: 3651}", envAt + ".backup.retention.days: must be between 1 and 3650"},
		{"negative count", "{count: 7, days: 14}", "{count: -1, days: 14}", envAt + ".backup.retention.count: must be at least 1"},
		{"shortest drill timeout", "timeoutMinutes: 90", "timeoutMinutes: 10", ""},
		{"drill timeout one minute shorter", "timeoutMinutes: 90", "timeoutMinutes: 9", envAt + ".drill.timeoutMinutes: must be between 10 and 1440"},
		{"longest drill timeout", "timeoutMinutes: 90", "timeoutMinutes: 1440", ""},
		{"drill timeout one minute longer", "timeoutMinutes: 90", "timeoutMinutes: 1441", envAt + ".drill.timeoutMinutes: must be between 10 and 1440"},
		{"query of 4096 bytes", query, queryOf(MaxAssertionQueryLen), ""},
		{"query of 4097 bytes", query, queryOf(MaxAssertionQueryLen + 1), envAt + ".drill.assertions[has-admin].query: longer than 4096 bytes"},
		{"drill schedule", "schedule: cron(0 5 ? * SUN *)", "schedule: rate(7 days)", envAt + ".drill.schedule: must be an EventBridge Scheduler cron expression"},
		{"subnet group with upper case", "subnetGroup: stepship-drill-isolated", "subnetGroup: Drill", envAt + ".drill.subnetGroup: must be a DB subnet group name"},
		{"assertion name with upper case", "name: no-orphans", "name: No-Orphans", envAt + ".drill.assertions[No-Orphans].name: must be 1-40 lower-case"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := strings.Replace(withData, tt.old, tt.new, 1)
			if doc == withData {
				t.Fatalf("the edit %q changed nothing", tt.old)
			}
			_, err := Parse([]byte(doc))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("error = %v, want one starting %q", err, tt.want)
			}
		})
	}
}

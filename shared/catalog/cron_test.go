package catalog

import (
	"strings"
	"testing"
	"time"
)

func TestLongestGap(t *testing.T) {
	const day = 24 * time.Hour
	tests := []struct {
		schedule string
		want     time.Duration
	}{
		{"cron(0 3 * * ? *)", day},
		{"cron(0 5 ? * SUN *)", 7 * day},
		{"cron(0 5 ? * 1 *)", 7 * day},
		{"cron(0/15 * * * ? *)", 15 * time.Minute},
		{"cron(0 */6 * * ? *)", 6 * time.Hour},
		{"cron(0 1-3,22 * * ? *)", 19 * time.Hour}, // 03:00 to 22:00
		{"cron(30 2 ? * MON-FRI *)", 3 * day},      // Friday to Monday
		{"cron(0 4 1 * ? *)", 31 * day},            // the longest month
		{"cron(0 4 1 JAN,JUL ? *)", 184 * day},     // July to January
		{"cron(30 23 L * ? *)", 31 * day},          // 28 February to 31 March
		{"cron(0 5 ? * 2#1 *)", 35 * day},          // the first Monday: 4 or 5 weeks apart
		{"cron(0 5 ? * 6L *)", 35 * day},           // the last Friday
		{"cron(0 5 LW * ? *)", 33 * day},           // the last weekday: Friday 2027-02-26 to Wednesday 2027-03-31
		{"cron(0 5 15W * ? *)", 32 * day},          // Friday the 14th to Monday the 16th of the next month
		{"cron(0 3 * * ? 2026-2030)", day},         // the year field aside
	}
	for _, tt := range tests {
		t.Run(tt.schedule, func(t *testing.T) {
			got, err := LongestGap(tt.schedule)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("LongestGap = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLongestGapRefusesWhatValidationRefuses(t *testing.T) {
	for _, s := range []string{"rate(1 day)", "cron(0 3 * * * *)", "cron(0 24 * * ? *)", ""} {
		if _, err := LongestGap(s); err == nil || !strings.Contains(err.Error(), "cron") && !strings.Contains(err.Error(), "required") {
			t.Errorf("LongestGap(%q) = %v", s, err)
		}
	}
	if _, err := LongestGap("cron(0 3 29 FEB ? *)"); err == nil || !strings.Contains(err.Error(), "at most once in two years") {
		t.Errorf("29 February: %v", err)
	}
}

func TestNearestWeekday(t *testing.T) {
	for _, tt := range []struct {
		date string
		n    int
		want int
	}{
		{"2026-08-01", 1, 3},   // Saturday the 1st: Monday the 3rd, not July
		{"2026-05-31", 31, 29}, // Sunday the 31st: Friday the 29th, not June
		{"2026-11-15", 15, 16}, // Sunday: Monday
		{"2026-11-14", 14, 13}, // Saturday: Friday
		{"2026-11-11", 11, 11},
	} {
		d, _ := time.Parse(time.DateOnly, tt.date)
		if got := nearestWeekday(d, tt.n); got != tt.want {
			t.Errorf("nearestWeekday(%s, %d) = %d, want %d", tt.date, tt.n, got, tt.want)
		}
	}
}

package catalog

import (
	"strconv"
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

// dayMatcher selects exactly the days of its fields, day by day: L, W, # and
// ranges at their edges.
func TestDayMatcher(t *testing.T) {
	for _, tt := range []struct {
		dom, dow string
		date     string
		want     bool
	}{
		{"L", "?", "2026-02-28", true},
		{"L", "?", "2026-02-27", false},
		{"L", "?", "2026-01-31", true},
		{"LW", "?", "2026-01-30", true}, // Saturday the 31st: Friday
		{"LW", "?", "2026-01-31", false},
		{"15W", "?", "2026-11-16", true}, // Sunday the 15th: Monday
		{"15W", "?", "2026-11-15", false},
		{"1W", "?", "2026-08-03", true}, // Saturday the 1st: Monday the 3rd
		{"1W", "?", "2026-08-01", false},
		{"31W", "?", "2026-05-29", true},  // Sunday the 31st: Friday the 29th
		{"31W", "?", "2026-02-27", true},  // February has no 31st: Saturday the 28th, Friday
		{"31W", "?", "2026-02-28", false}, // a Saturday
		{"5-9/2", "?", "2026-11-05", true},
		{"5-9/2", "?", "2026-11-06", false},
		{"5-9/2", "?", "2026-11-09", true},
		{"5-9/2", "?", "2026-11-11", false},
		{"?", "6L", "2026-07-31", true}, // the last Friday
		{"?", "6L", "2026-07-24", false},
		{"?", "2#1", "2026-03-02", true},
		{"?", "2#1", "2026-03-09", false},
		{"?", "2#2", "2026-03-09", true},
		{"?", "2#5", "2026-03-30", true},
		{"?", "2#5", "2026-03-02", false},
		{"?", "L", "2026-10-31", true}, // Saturday
		{"?", "L", "2026-07-31", false},
		{"?", "MON-FRI", "2026-07-31", true},
		{"?", "MON-FRI", "2026-10-31", false},
		{"?", "1", "2026-05-31", true}, // 1 is Sunday
		{"?", "7", "2026-05-31", false},
	} {
		match, err := dayMatcher(tt.dom, tt.dow)
		if err != nil {
			t.Fatalf("dayMatcher(%q, %q): %v", tt.dom, tt.dow, err)
		}
		d, _ := time.Parse(time.DateOnly, tt.date)
		if got := match(d); got != tt.want {
			t.Errorf("dayMatcher(%q, %q)(%s) = %v, want %v", tt.dom, tt.dow, tt.date, got, tt.want)
		}
	}
}

// What the cron syntax check lets through but names no day, or no step, is
// refused.
func TestCronFieldsOutOfRange(t *testing.T) {
	for _, f := range [][2]string{{"0W", "?"}, {"32W", "?"}, {"?", "2#0"}, {"?", "2#6"}, {"?", "8L"}, {"?", "0#1"}, {"?", "2#x"}, {"x", "?"}} {
		if _, err := dayMatcher(f[0], f[1]); err == nil {
			t.Errorf("dayMatcher(%q, %q) accepted", f[0], f[1])
		}
	}
	for _, tt := range []struct {
		field  string
		lo, hi int
		want   string // the selected values; "" for an error
	}{
		{"*/1", 0, 5, "0 1 2 3 4 5"},
		{"2/3", 0, 10, "2 5 8"},
		{"0-5", 0, 5, "0 1 2 3 4 5"},
		{"*/0", 0, 5, ""},
		{"*/-1", 0, 5, ""},
		{"-1", 0, 5, ""},
		{"6", 0, 5, ""},
		{"1-6", 0, 5, ""},
		{"0-x", 0, 5, ""},
		{"5,0", 0, 5, "0 5"},
	} {
		set, err := cronSet(tt.field, tt.lo, tt.hi, nil)
		var got []string
		for n := tt.lo - 1; n <= tt.hi+1; n++ {
			if set[n] {
				got = append(got, strconv.Itoa(n))
			}
		}
		if tt.want == "" && err == nil || tt.want != "" && (err != nil || strings.Join(got, " ") != tt.want) {
			t.Errorf("cronSet(%q, %d, %d) = %v, %v; want %q", tt.field, tt.lo, tt.hi, got, err, tt.want)
		}
	}
}

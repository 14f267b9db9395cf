package catalog

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// LongestGap is the longest time between two consecutive firings of an
// EventBridge Scheduler cron expression (as validSchedule accepts it),
// evaluated in UTC over two years from 2026-01-01, its year field aside: for
// cron(0 3 * * ? *) a day, for cron(0 5 ? * SUN *) a week, for cron(0 3 L *
// ? *) the 31 days from the end of January to the end of March. The stack
// derives its alarms' thresholds from it (how old the newest copy may be
// before a backup has been missed).
func LongestGap(schedule string) (time.Duration, error) {
	if err := validSchedule(schedule); err != nil {
		return 0, err
	}
	fields := strings.Fields(strings.TrimSuffix(strings.TrimPrefix(schedule, "cron("), ")"))
	minutes, err := cronSet(fields[0], 0, 59, nil)
	if err != nil {
		return 0, err
	}
	hours, err := cronSet(fields[1], 0, 23, nil)
	if err != nil {
		return 0, err
	}
	months, err := cronSet(fields[3], 1, 12, monthNames)
	if err != nil {
		return 0, err
	}
	day, err := dayMatcher(fields[2], fields[4])
	if err != nil {
		return 0, err
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	end := start.AddDate(2, 0, 0)
	var last time.Time
	var longest time.Duration
	for d := start; d.Before(end); d = d.AddDate(0, 0, 1) {
		if !months[int(d.Month())] || !day(d) {
			continue
		}
		for h := 0; h < 24; h++ {
			if !hours[h] {
				continue
			}
			for m := 0; m < 60; m++ {
				if !minutes[m] {
					continue
				}
				t := d.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute)
				if !last.IsZero() && t.Sub(last) > longest {
					longest = t.Sub(last)
				}
				last = t
			}
		}
	}
	if longest == 0 {
		return 0, fmt.Errorf("%s fires at most once in two years", schedule)
	}
	return longest, nil
}

var (
	monthNames = map[string]int{"JAN": 1, "FEB": 2, "MAR": 3, "APR": 4, "MAY": 5, "JUN": 6, "JUL": 7, "AUG": 8, "SEP": 9, "OCT": 10, "NOV": 11, "DEC": 12}
	// Day-of-week numbers: 1 is Sunday, as EventBridge Scheduler counts.
	dayNames = map[string]int{"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
)

// cronSet expands a list of values, ranges and steps (* , - /) of one field
// into the set of values in lo..hi it selects.
func cronSet(field string, lo, hi int, names map[string]int) (map[int]bool, error) {
	set := map[int]bool{}
	value := func(s string) (int, error) {
		if n, ok := names[strings.ToUpper(s)]; ok {
			return n, nil
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < lo || n > hi {
			return 0, fmt.Errorf("%q is not a value of %d-%d", s, lo, hi)
		}
		return n, nil
	}
	for _, part := range strings.Split(field, ",") {
		rng, stepText, stepped := strings.Cut(part, "/")
		step := 1
		if stepped {
			n, err := strconv.Atoi(stepText)
			if err != nil || n < 1 {
				return nil, fmt.Errorf("step %q is not a positive number", stepText)
			}
			step = n
		}
		first, last := lo, hi
		switch a, b, isRange := strings.Cut(rng, "-"); {
		case rng == "*" || rng == "?":
		case isRange:
			var err error
			if first, err = value(a); err != nil {
				return nil, err
			}
			if last, err = value(b); err != nil {
				return nil, err
			}
		default:
			n, err := value(rng)
			if err != nil {
				return nil, err
			}
			first, last = n, n
			if stepped {
				last = hi
			}
		}
		for n := first; n <= last; n += step {
			set[n] = true
		}
	}
	return set, nil
}

// dayMatcher reports which days an expression's day-of-month and day-of-week
// fields select (exactly one of them is "?"), with L, W and #.
func dayMatcher(dom, dow string) (func(time.Time) bool, error) {
	lastDay := func(d time.Time) int { return time.Date(d.Year(), d.Month()+1, 0, 0, 0, 0, 0, time.UTC).Day() }
	weekday := func(d time.Time) int { return int(d.Weekday()) + 1 }
	if dom != "?" {
		switch {
		case dom == "L":
			return func(d time.Time) bool { return d.Day() == lastDay(d) }, nil
		case dom == "LW":
			return func(d time.Time) bool { return d.Day() == nearestWeekday(d, lastDay(d)) }, nil
		case strings.HasSuffix(dom, "W"):
			n, err := strconv.Atoi(strings.TrimSuffix(dom, "W"))
			if err != nil || n < 1 || n > 31 {
				return nil, fmt.Errorf("day-of-month %q is not NW", dom)
			}
			return func(d time.Time) bool { return d.Day() == nearestWeekday(d, min(n, lastDay(d))) }, nil
		}
		days, err := cronSet(dom, 1, 31, nil)
		if err != nil {
			return nil, err
		}
		return func(d time.Time) bool { return days[d.Day()] }, nil
	}
	if n, ok := strings.CutSuffix(dow, "L"); ok && n != "" {
		wd, err := cronSet(n, 1, 7, dayNames)
		if err != nil {
			return nil, err
		}
		return func(d time.Time) bool { return wd[weekday(d)] && d.Day()+7 > lastDay(d) }, nil
	}
	if n, nth, ok := strings.Cut(dow, "#"); ok {
		wd, err := cronSet(n, 1, 7, dayNames)
		k, kerr := strconv.Atoi(nth)
		if err != nil || kerr != nil || k < 1 || k > 5 {
			return nil, fmt.Errorf("day-of-week %q is not D#N", dow)
		}
		return func(d time.Time) bool { return wd[weekday(d)] && (d.Day()-1)/7+1 == k }, nil
	}
	if dow == "L" {
		return func(d time.Time) bool { return weekday(d) == 7 }, nil // L alone: the last day of the week, Saturday
	}
	days, err := cronSet(dow, 1, 7, dayNames)
	if err != nil {
		return nil, err
	}
	return func(d time.Time) bool { return days[weekday(d)] }, nil
}

// nearestWeekday is the weekday of d's month nearest to day n, never
// crossing into another month (the W of a cron expression).
func nearestWeekday(d time.Time, n int) int {
	last := time.Date(d.Year(), d.Month()+1, 0, 0, 0, 0, 0, time.UTC).Day()
	switch time.Date(d.Year(), d.Month(), n, 0, 0, 0, 0, time.UTC).Weekday() {
	case time.Saturday:
		if n == 1 {
			return 3
		}
		return n - 1
	case time.Sunday:
		if n == last {
			return n - 2
		}
		return n + 1
	}
	return n
}

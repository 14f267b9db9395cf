package awsproxy

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"
)

// CallTable formats calls as an aligned text table, one call a line
// (sequence, caller's app id, service, region, action, call number, effects,
// status, time, error): for a test's log, or for printing a fault matrix.
func CallTable(calls []Call) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tapp\tservice\tregion\taction\tn\teffects\tstatus\ttime\terror")
	for _, c := range calls {
		status := "-"
		if c.Status != 0 {
			status = fmt.Sprint(c.Status)
		}
		errText := ""
		if c.Err != nil {
			errText = c.Err.Error()
		}
		app := c.App
		if app == "" {
			app = "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", c.Seq, app, c.Service, c.Region, c.Action, c.N,
			strings.Join(c.Effects, ", "), status, c.Duration.Round(100*time.Microsecond), errText)
	}
	_ = tw.Flush()
	return b.String()
}

package catalogtest

import "testing"

func TestParse(t *testing.T) {
	c := Parse(t, Environment("production"), Environment("staging", "roles: [arn:aws:iam::123456789012:role/web-task]"))
	tg, err := c.Resolve("web", "staging")
	if err != nil || tg.Cluster != "demo" || len(tg.Roles) != 1 {
		t.Errorf("Resolve = %+v, %v", tg, err)
	}
}

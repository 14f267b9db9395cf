package asl

import (
	"encoding/json"
	"testing"
)

const pathDoc = `{"a":{"b":[1,2,{"c":"x"}]},"n":null,"my-key":"dash","x y":"space","list":[{"v":1},{"v":5}]}`

func TestPathGet(t *testing.T) {
	doc, _ := decodeJSON([]byte(pathDoc))
	tests := []struct {
		path, want string
		noMatch    bool
	}{
		{path: "$", want: pathDoc},
		{path: "$.a.b[0]", want: `1`},
		{path: "$.a.b[2].c", want: `"x"`},
		{path: "$.a.b[-1].c", want: `"x"`},
		{path: "$.n", want: `null`},
		{path: "$.my-key", want: `"dash"`},
		{path: "$['x y']", want: `"space"`},
		{path: "$.list[*].v", want: `[1,5]`},
		{path: "$.list[?(@.v > 2)].v", want: `[5]`},
		{path: "$.list[?(@.v > 9)]", want: `[]`},
		{path: "$.a.b[0:2]", want: `[1,2]`},
		{path: "$..c", want: `["x"]`},
		{path: "$.missing", noMatch: true},
		{path: "$.a.b[9]", noMatch: true},
		{path: "$.n.deeper", noMatch: true},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			p, err := compilePath(tt.path)
			if err != nil {
				t.Fatalf("compile: %v", err)
			}
			got, err := p.get(doc, nil)
			if tt.noMatch {
				if err == nil {
					t.Fatalf("get = %v, want no match", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("get: %v", err)
			}
			if !jsonEqual(t, mustEncode(got), tt.want) {
				t.Errorf("get = %s, want %s", mustEncode(got), tt.want)
			}
		})
	}
}

func TestPathCompileErrors(t *testing.T) {
	for _, p := range []string{"", "a", "$.", "$.a..", "$[", "$.a[0", "$a", "$.a]", "$['a'", "$.a(", "@.a"} {
		t.Run(p, func(t *testing.T) {
			if _, err := compilePath(p); err == nil {
				t.Errorf("compilePath(%q) succeeded", p)
			}
		})
	}
}

func TestRefPath(t *testing.T) {
	tests := []struct {
		path, input, want string
		bad, setErr       bool
	}{
		{path: "$", input: `{"a":1}`, want: `"R"`},
		{path: "$.a", input: `{"a":1}`, want: `{"a":"R"}`},
		{path: "$.a.b.c", input: `{"x":1}`, want: `{"x":1,"a":{"b":{"c":"R"}}}`},
		{path: "$.a.b", input: `{"a":{"k":2}}`, want: `{"a":{"k":2,"b":"R"}}`},
		{path: "$.l[1]", input: `{"l":[0,1]}`, want: `{"l":[0,"R"]}`},
		{path: "$['s p']", input: `{}`, want: `{"s p":"R"}`},
		{path: "$.a.b", input: `{"a":"str"}`, setErr: true},
		{path: "$.l[5]", input: `{"l":[0]}`, setErr: true},
		{path: "$.a", input: `[1]`, setErr: true},
		{path: "$.a[*]", bad: true},
		{path: "$..a", bad: true},
		{path: "$.a[-1]", bad: true},
		{path: "$.a[?(@.x)]", bad: true},
		{path: "$.a[0,1]", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.path+" "+tt.input, func(t *testing.T) {
			p, err := compileRefPath(tt.path)
			if tt.bad {
				if err == nil {
					t.Fatal("compileRefPath succeeded, want error")
				}
				return
			}
			if err != nil {
				t.Fatalf("compile: %v", err)
			}
			in, _ := decodeJSON([]byte(tt.input))
			before := string(mustEncode(in))
			got, err := p.set(in, "R")
			if tt.setErr {
				if err == nil {
					t.Fatalf("set = %s, want error", mustEncode(got))
				}
				return
			}
			if err != nil {
				t.Fatalf("set: %v", err)
			}
			if !jsonEqual(t, mustEncode(got), tt.want) {
				t.Errorf("set = %s, want %s", mustEncode(got), tt.want)
			}
			if after := string(mustEncode(in)); after != before {
				t.Errorf("set modified its input: %s → %s", before, after)
			}
		})
	}
}

func FuzzPath(f *testing.F) {
	for _, s := range []string{"$", "$.a.b[0]", "$.list[*].v", "$..c", "$['x y']", "$.my-key", "$$.Execution.Id",
		"$.list[?(@.v > 2)]", "$.a.b[0:2]", "$[", "$.a[0,1]", `$['it\'s']`, "$.*", "$..*", "$.a..b"} {
		f.Add(s)
	}
	doc, _ := decodeJSON([]byte(pathDoc))
	f.Fuzz(func(t *testing.T, s string) {
		p, err := compilePath(s)
		if err != nil {
			return
		}
		v, err := p.get(doc, nil)
		if err == nil {
			if _, err := json.Marshal(v); err != nil {
				t.Fatalf("result of %q does not encode: %v", s, err)
			}
		}
		if rp, err := compileRefPath(s); err == nil && !rp.context {
			if _, err := rp.set(doc, "x"); err == nil {
				if rp.definite != true {
					t.Fatalf("reference path %q is not definite", s)
				}
			}
		}
	})
}

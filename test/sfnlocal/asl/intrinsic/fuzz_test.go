package intrinsic

import (
	"reflect"
	"testing"
)

// Seeds for the fuzz targets, besides the files in testdata/fuzz/.
var fuzzSeeds = []string{
	`States.Format('Hello, my name is {}.', $.name)`,
	`States.Format($.template, $.name)`,
	`States.Format('a\'b\{\}\\ {}', $$.Execution.Id)`,
	`States.StringToJson($.escapedJsonString)`,
	`States.JsonToString($.unescapedJson)`,
	`States.Array('a', 1, -2.5e-3, true, false, null, $.x, States.UUID())`,
	`States.ArrayPartition($.inputArray, 4)`,
	`States.ArrayContains($.inputArray, $.lookingFor)`,
	`States.ArrayRange(1, 9, 2)`,
	`States.ArrayGetItem($.inputArray, $.index)`,
	`States.ArrayLength($.inputArray)`,
	`States.ArrayUnique($.inputArray)`,
	`States.Base64Encode($.input)`,
	`States.Base64Decode($.base64)`,
	`States.Hash($.Data, 'SHA-256')`,
	`States.JsonMerge($.json1, $.json2, false)`,
	`States.MathRandom($.start, $.end, 7)`,
	`States.MathAdd($.value1, $.step)`,
	`States.StringSplit($.inputString, '.+,=')`,
	`States.UUID()`,
	`States.Array($.a['b,c)'], $.items[?(@.n > 1)], $..x, $.y[*])`,
	`  States.Array( 1 ,2 )  `,
	`States.Format('{}.{}', States.ArrayGetItem(States.StringSplit($.arn, '/'), 2), States.ArrayGetItem(States.StringSplit($.arn, ':'), 3))`,
	`States.Format('unterminated`,
	`States.Format('bad \x')`,
	`States.Array(1e999)`,
	`States.Array(`,
	`$.not.an.intrinsic`,
}

// FuzzParse checks that Parse never panics, and that whatever it accepts
// prints (String) to an expression that parses back to the same Call.
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		c, err := Parse(expr)
		if err != nil {
			if c != nil {
				t.Fatalf("Parse(%q) returned both a Call and an error", expr)
			}
			return
		}
		if !IsIntrinsic(expr) {
			t.Errorf("Parse(%q) succeeded but IsIntrinsic is false", expr)
		}
		printed := c.String()
		again, err := Parse(printed)
		if err != nil {
			t.Fatalf("Parse(%q) ok, but its String %q does not parse: %v", expr, printed, err)
		}
		if !reflect.DeepEqual(c, again) {
			t.Fatalf("round trip changed the call:\n  in  %q\n  out %q\n  %#v\n  %#v", expr, printed, c, again)
		}
		if again.String() != printed {
			t.Fatalf("String is not stable: %q then %q", printed, again.String())
		}
	})
}

// FuzzEval checks that evaluating any expression against a fixed input never
// panics and fails only with *Error.
func FuzzEval(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	resolve := testResolver(f)
	f.Fuzz(func(t *testing.T, expr string) {
		v, err := Eval(expr, resolve)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("Eval(%q) error %T %v, want *Error", expr, err, err)
			}
			return
		}
		if _, err := marshal(v); err != nil {
			t.Fatalf("Eval(%q) = %#v, which is not JSON: %v", expr, v, err)
		}
	})
}

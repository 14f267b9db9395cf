package asl

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"testing"
	"time"
)

func FuzzParse(f *testing.F) {
	seeds := []string{
		passChain(3),
		chain("A", `"A":{"Type":"Pass","Next":"T"},"T":{"Type":"Task","Resource":"echo","Retry":[{"ErrorEquals":["States.ALL"]}],"Catch":[{"ErrorEquals":["States.ALL"],"Next":"F"}],"Next":"C"},"C":{"Type":"Choice","Choices":[{"Variable":"$.a","NumericEquals":1,"Next":"W"}],"Default":"F"},"W":{"Type":"Wait","Seconds":0,"Next":"S"},"S":{"Type":"Succeed"},"F":{"Type":"Fail","Error":"E"}`),
		chain("P", `"P":{"Type":"Parallel","Branches":[{"StartAt":"B","States":{"B":{"Type":"Pass","End":true}}}],"Next":"M"},"M":{"Type":"Map","ItemsPath":"$","ItemSelector":{"v.$":"$$.Map.Item.Value"},"ItemProcessor":{"StartAt":"I","States":{"I":{"Type":"Pass","End":true}}},"End":true}`),
		chain("A", `"A":{"Type":"Pass","Parameters":{"x.$":"States.Format('{}', $.a)","y.$":"$.b[0]"},"ResultPath":"$.r.s","OutputPath":"$.r","End":true}`),
		chain("C", `"C":{"Type":"Choice","Choices":[{"Not":{"Or":[{"Variable":"$.s","StringMatches":"a*b"},{"Variable":"$.t","TimestampLessThanPath":"$.u"}]},"Next":"S"}],"Default":"S"},"S":{"Type":"Succeed"}`),
		`{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"A"}}}`,
		`{}`, `[]`, `{"StartAt":1}`,
	}
	if def, err := os.ReadFile("testdata/deploy-like.asl.json"); err == nil {
		seeds = append(seeds, string(def))
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, def string) {
		sm, err := Parse([]byte(def))
		if err != nil {
			var de *DefinitionError
			if !errors.As(err, &de) {
				t.Fatalf("Parse returned %T, want *DefinitionError: %v", err, err)
			}
			return
		}
		// A valid definition must run without panicking; stop loops after a moment.
		r := NewRunner(WithInvoker(&fakeTasks{}), WithClock(&instantClock{}))
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		x, err := r.Run(ctx, sm, json.RawMessage(`{"a":1,"b":[1],"s":"ab","items":[1,2]}`), ExecutionInfo{})
		if x == nil {
			t.Fatalf("Run: %v", err)
		}
		if st := x.Snapshot(); st.Status == StatusRunning {
			t.Fatalf("execution still running after Run: %+v", st)
		}
	})
}

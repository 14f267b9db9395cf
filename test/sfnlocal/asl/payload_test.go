package asl

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
)

func TestToNonNegativeInt(t *testing.T) {
	big, _ := decodeJSON([]byte(`12345678901234567890`))
	tests := []struct {
		in   any
		want int64
		ok   bool
	}{
		{int64(5), 5, true},
		{int64(-1), 0, false},
		{float64(3), 3, true},
		{float64(2.5), 0, false},
		{float64(-2), 0, false},
		{json.Number("7"), 7, true},
		{big, 0, false},
		{"5", 0, false},
		{nil, 0, false},
	}
	for _, tt := range tests {
		t.Run(string(mustEncode(tt.in)), func(t *testing.T) {
			got, ok := toNonNegativeInt(tt.in)
			if ok != tt.ok || (ok && got != tt.want) {
				t.Errorf("toNonNegativeInt(%v) = %d, %v", tt.in, got, ok)
			}
		})
	}
}

func TestStateMachineAccessors(t *testing.T) {
	def := `{"Comment":"c","TimeoutSeconds":9,"StartAt":"B","States":{"B":{"Type":"Pass","Next":"A"},"A":{"Type":"Succeed"}}}`
	sm := mustParse(t, def)
	if string(sm.Definition()) != def || sm.Comment != "c" || sm.TimeoutSeconds != 9 || sm.StartAt != "B" {
		t.Errorf("state machine %+v", sm)
	}
	if got := sm.StateNames(); !slices.Equal(got, []string{"A", "B"}) {
		t.Errorf("StateNames = %v", got)
	}
}

func TestStartErrors(t *testing.T) {
	r := NewRunner()
	if _, err := r.Start(context.Background(), nil, nil, ExecutionInfo{}); err == nil {
		t.Error("Start accepted a nil state machine")
	}
	sm := mustParse(t, chain("A", `"A":{"Type":"Succeed"}`))
	if _, err := r.Start(context.Background(), sm, json.RawMessage(`{"a":`), ExecutionInfo{}); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("invalid input: %v, want ErrInvalidInput", err)
	}
	x, err := r.Run(context.Background(), sm, nil, ExecutionInfo{Name: "n", StateMachineName: "m"})
	if err != nil {
		t.Fatal(err)
	}
	info := x.Info()
	if info.ARN != "arn:aws:states:local:000000000000:execution:m:n" || info.StartTime.IsZero() {
		t.Errorf("info %+v", info)
	}
	if st := x.Snapshot(); string(st.Input) != `{}` || string(st.Output) != `{}` {
		t.Errorf("empty input: %+v", st)
	}
}

package asl

import "testing"

// TestSpecExamples runs examples from the Amazon States Language specification's
// sections on paths, payload templates and Map.
func TestSpecExamples(t *testing.T) {
	tests := []struct {
		name, def, input, want string
	}{
		{
			name:  "payload template with slice",
			def:   chain("X", `"X":{"Type":"Pass","Parameters":{"flagged":true,"parts":{"first.$":"$.vals[0]","last3.$":"$.vals[-3:]"}},"End":true}`),
			input: `{"flagged":7,"vals":[0,10,20,30,40,50]}`,
			want:  `{"flagged":true,"parts":{"first":0,"last3":[30,40,50]}}`,
		},
		{
			name:  "ResultPath into input",
			def:   chain("X", `"X":{"Type":"Pass","Result":{"x":"AAA","y":"BBB"},"ResultPath":"$.master.detail","End":true}`),
			input: `{"master":{"detail":[1,2,3]}}`,
			want:  `{"master":{"detail":{"x":"AAA","y":"BBB"}}}`,
		},
		{
			name: "Map with ItemSelector and a dashed name",
			def: chain("Validate-All", `"Validate-All":{"Type":"Map","InputPath":"$.detail","ItemsPath":"$.shipped","MaxConcurrency":0,
				"ItemSelector":{"parcel.$":"$$.Map.Item.Value","courier.$":"$.delivery-partner"},
				"ItemProcessor":{"StartAt":"Validate","States":{"Validate":{"Type":"Pass","OutputPath":"$.parcel.prod","End":true}}},
				"ResultPath":"$.detail.shipped","End":true}`),
			input: `{"ship-date":"2016-03-14T01:59:00Z","detail":{"delivery-partner":"UQS","shipped":[{"prod":"R31","dest-code":9511,"quantity":1344},{"prod":"S39","dest-code":9511,"quantity":40}]}}`,
			want:  `{"ship-date":"2016-03-14T01:59:00Z","detail":{"delivery-partner":"UQS","shipped":["R31","S39"]}}`,
		},
		{
			name: "Choice with Not and And",
			def: chain("C", `"C":{"Type":"Choice","Choices":[
				{"Not":{"Variable":"$.type","StringEquals":"Private"},"Next":"Public"},
				{"And":[{"Variable":"$.value","IsPresent":true},{"Variable":"$.value","IsNumeric":true},{"Variable":"$.value","NumericGreaterThanEquals":20},{"Variable":"$.value","NumericLessThan":30}],"Next":"ValueInTwenties"}],
				"Default":"DefaultState"},
				"Public":{"Type":"Pass","Result":"public","End":true},
				"ValueInTwenties":{"Type":"Pass","Result":"twenties","End":true},
				"DefaultState":{"Type":"Fail","Error":"DefaultStateError","Cause":"No Matches!"}`),
			input: `{"type":"Private","value":22}`,
			want:  `"twenties"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, st := runDef(t, tt.def, tt.input, nil)
			if st.Status != StatusSucceeded || !jsonEqual(t, st.Output, tt.want) {
				t.Fatalf("status %s %s %s output %s, want %s", st.Status, st.Error, st.Cause, st.Output, tt.want)
			}
		})
	}
}

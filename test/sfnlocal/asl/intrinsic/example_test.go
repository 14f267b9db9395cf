package intrinsic_test

import (
	"fmt"

	"github.com/stepship/stepship/test/sfnlocal/asl/intrinsic"
)

func ExampleEval() {
	input := map[string]any{"name": "Arnav", "arn": "arn:aws:ecs:us-east-1:123456789012:service/prod/web"}
	resolve := func(path string) (any, error) {
		switch path {
		case "$.name":
			return input["name"], nil
		case "$.arn":
			return input["arn"], nil
		}
		return nil, fmt.Errorf("no value at %s", path)
	}
	v, err := intrinsic.Eval(`States.Format('Hello, {}! Service {}.', $.name, States.ArrayGetItem(States.StringSplit($.arn, '/'), 2))`, resolve)
	fmt.Println(v, err)

	_, err = intrinsic.Eval(`States.ArrayGetItem(States.Array(1, 2), 5)`, resolve)
	fmt.Println(err)
	// Output:
	// Hello, Arnav! Service web. <nil>
	// States.Runtime: The function 'States.ArrayGetItem(States.Array(1, 2), 5)' had the following error: the index 5 is out of bounds for an array of length 2
}

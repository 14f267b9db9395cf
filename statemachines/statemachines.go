// Package statemachines holds the Amazon States Language files that orchestrate
// stepship — the one source of truth: the CDK app deploys them, the local Step
// Functions service runs them, and the tests read them, all through this
// package — and the Step Functions facts that go with them: the
// ${Placeholder} grammar of definitionSubstitutions, execution ARNs and the
// payload limit.
package statemachines

import (
	"embed"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"sort"
	"strings"
)

//go:embed *.asl.json
var files embed.FS

// Names of the state machines (the file is NAME.asl.json).
const (
	Deploy  = "deploy"
	Backup  = "backup"
	DRDrill = "dr-drill"
)

// Names returns the name of every state machine file, sorted.
func Names() []string {
	entries, _ := fs.Glob(files, "*.asl.json")
	out := make([]string, 0, len(entries))
	for _, e := range entries {
		out = append(out, strings.TrimSuffix(e, ".asl.json"))
	}
	sort.Strings(out)
	return out
}

// File is the path of a state machine's file relative to the repository root.
func File(name string) string { return "statemachines/" + name + ".asl.json" }

// Definition returns the ASL text of a state machine, placeholders unfilled.
func Definition(name string) ([]byte, error) {
	b, err := files.ReadFile(name + ".asl.json")
	if err != nil {
		return nil, fmt.Errorf("no state machine %q (have %s)", name, strings.Join(Names(), ", "))
	}
	return b, nil
}

// MaxPayloadBytes is Step Functions' limit on an execution's input, a
// state's input and output, and a task's result: 256 KiB.
const MaxPayloadBytes = 256 * 1024

// placeholderRE matches a definitionSubstitutions placeholder: ${Key}, the
// key made of letters, digits and _ . : - (what Step Functions accepts as a
// substitution key). Which keys stepship fills is Known's business.
var placeholderRE = regexp.MustCompile(`\$\{([A-Za-z0-9_.:-]+)\}`)

// Placeholder kinds. A placeholder is ${NAMEFunctionArn} (a stepship
// function, e.g. ${DeployFunctionArn}) or one of the stack's resources
// below; FunctionPlaceholder builds the first kind.
const (
	// TableName is stepship's lock and ledger table.
	TableName = "TableName"
	// BackupStateMachineArn is the backup state machine, which the deploy
	// machine runs snapshot-only before a deploy (catalog backup.beforeDeploy).
	BackupStateMachineArn = "BackupStateMachineArn"
	// functionSuffix ends a function's placeholder.
	functionSuffix = "FunctionArn"
)

// Resources lists the placeholders that name stack resources rather than
// functions.
var Resources = []string{TableName, BackupStateMachineArn}

// FunctionPlaceholder returns the placeholder of a function folder name:
// "deploy" → "DeployFunctionArn", "dr-verify" → "DrVerifyFunctionArn".
func FunctionPlaceholder(function string) string {
	var b strings.Builder
	for _, part := range strings.FieldsFunc(function, func(r rune) bool { return r == '-' || r == '_' }) {
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String() + functionSuffix
}

// FunctionOf returns the function a placeholder names ("DeployFunctionArn" →
// "Deploy", true), or false when it names no function.
func FunctionOf(placeholder string) (string, bool) {
	stem, ok := strings.CutSuffix(placeholder, functionSuffix)
	return stem, ok && stem != ""
}

// Placeholders returns the names of the placeholders in a definition, sorted,
// each once.
func Placeholders(def []byte) []string {
	var out []string
	for _, m := range placeholderRE.FindAllSubmatch(def, -1) {
		if name := string(m[1]); !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// IsPlaceholder reports whether s is exactly one placeholder.
func IsPlaceholder(s string) bool {
	m := placeholderRE.FindStringIndex(s)
	return m != nil && m[0] == 0 && m[1] == len(s)
}

// Known reports whether a placeholder is one stepship fills: a function's or
// a resource's.
func Known(name string) bool {
	_, fn := FunctionOf(name)
	return fn || slices.Contains(Resources, name)
}

// Substitute fills every placeholder of def from values, as Step Functions
// does with definitionSubstitutions. A placeholder without a value is an
// error naming it.
func Substitute(def []byte, values map[string]string) ([]byte, error) {
	var missing []string
	out := placeholderRE.ReplaceAllFunc(def, func(m []byte) []byte {
		name := string(m[2 : len(m)-1])
		v, ok := values[name]
		if !ok {
			if !slices.Contains(missing, name) {
				missing = append(missing, name)
			}
			return m
		}
		return []byte(v)
	})
	if len(missing) > 0 {
		return nil, fmt.Errorf("no value for placeholder ${%s}", strings.Join(missing, "}, ${"))
	}
	return out, nil
}

// ExecutionARN returns the ARN of the execution called name of a state
// machine: arn:PARTITION:states:REGION:ACCOUNT:execution:MACHINE:NAME.
func ExecutionARN(stateMachineARN, name string) (string, error) {
	parts := strings.Split(stateMachineARN, ":")
	if len(parts) != 7 || parts[0] != "arn" || parts[2] != "states" || parts[5] != "stateMachine" || parts[6] == "" {
		return "", fmt.Errorf("%q is not a state machine ARN (arn:aws:states:REGION:ACCOUNT:stateMachine:NAME)", stateMachineARN)
	}
	parts[5] = "execution"
	return strings.Join(parts, ":") + ":" + name, nil
}

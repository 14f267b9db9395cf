package main

import (
	"fmt"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

func TestCdkNagAwsSolutionsFindsNothingUnsuppressed(t *testing.T) {
	// GIVEN the stack, as main.go builds it, with cdk-nag's AwsSolutions checks
	app, dir, dist := newTestStack(t)
	s, drs, err := NewStacks(app, "Stepship", testProps(dir, dist))
	if err != nil {
		t.Fatal(err)
	}
	if len(drs) == 0 {
		t.Fatal("the test catalog's drills made no DR stack")
	}
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)

	// WHEN it is synthesized (cdk.json's annotationsInValidationReport flag makes
	// an error-level finding fail the synth; the CDK prints the findings)
	if err := synth(app); err != nil {
		t.Fatalf("the synth failed, see the findings above: %v", err)
	}

	// THEN there is no warning-level finding either, in any stack
	stacks := []awscdk.Stack{s.Stack}
	for _, d := range drs {
		stacks = append(stacks, d.Stack)
	}
	if len(s.BackupAccountStacks) == 0 {
		t.Fatal("the test catalog's backup account made no backup-account stack")
	}
	for _, b := range s.BackupAccountStacks {
		stacks = append(stacks, b.Stack)
	}
	for _, st := range stacks {
		warns := assertions.Annotations_FromStack(st).FindWarning(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*")))
		for _, m := range *warns {
			t.Errorf("cdk-nag warning at %s: %v", *m.Id, m.Entry.Data)
		}
	}
}

// synth synthesizes app, returning the panic jsii raises for a failed synth.
func synth(app awscdk.App) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	app.Synth(nil)
	return nil
}

// Command infra is stepship's CDK app. `cdk synth` runs it from the repo root
// (see cdk.json); scripts/synth.sh builds the functions first and synthesizes
// offline. Context values (cdk.json or -c key=value):
//
//	stackName           the home stack's name (default "Stepship"); each region
//	                    the catalog's drills run in gets a DR stack STACK-dr-REGION
//	account, region     the stack's environment; when unset, CDK_DEFAULT_ACCOUNT and
//	                    CDK_DEFAULT_REGION (set by the CDK CLI when it has
//	                    credentials), else 123456789012 / us-east-1, so synth needs
//	                    no credentials and makes no lookups
//	dist                build output with dist/NAME/bootstrap (default "dist")
//	deployStateMachine  the deploy ASL file (default: statemachines/deploy.asl.json, embedded)
//	catalog             the service catalog (default "catalog.yaml"; required)
//	webhookConcurrency  the webhook function's reserved concurrency (default 10)
//	notificationEmails  addresses (comma-separated) subscribed to every stack's
//	                    notification topic: backup failures, drill outcomes,
//	                    alarms (default none: subscribe as you like)
//	nag                 "false" turns the cdk-nag AwsSolutions checks off
package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

func main() {
	err := run()
	jsii.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, "stepship infra:", err)
		os.Exit(1)
	}
}

func run() (err error) {
	// A failed synth (e.g. a cdk-nag error, printed by the CDK above) arrives as a
	// panic from jsii.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("synth failed: %v", r)
		}
	}()
	app := awscdk.NewApp(nil)
	props, err := propsFromContext(app)
	if err != nil {
		return err
	}
	if _, _, err := NewStacks(app, contextString(app, "stackName", "Stepship"), props); err != nil {
		return err
	}
	if contextString(app, "nag", "true") != "false" {
		awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	}
	app.Synth(nil)
	return nil
}

// propsFromContext reads the stack's inputs from the CDK context.
func propsFromContext(app awscdk.App) (*StepshipStackProps, error) {
	account := contextString(app, "account", firstNonEmpty(os.Getenv("CDK_DEFAULT_ACCOUNT"), "123456789012"))
	region := contextString(app, "region", firstNonEmpty(os.Getenv("CDK_DEFAULT_REGION"), "us-east-1"))
	concurrency := DefaultWebhookConcurrency
	if v := contextString(app, "webhookConcurrency", ""); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("context webhookConcurrency must be a whole number of at least 1, not %q", v)
		}
		concurrency = n
	}
	var emails []string
	for _, e := range strings.Split(contextString(app, "notificationEmails", ""), ",") {
		if e = strings.TrimSpace(e); e != "" {
			emails = append(emails, e)
		}
	}
	return &StepshipStackProps{
		StackProps: awscdk.StackProps{
			Env: &awscdk.Environment{Account: jsii.String(account), Region: jsii.String(region)},
		},
		DistDir:                contextString(app, "dist", "dist"),
		DeployStateMachineFile: contextString(app, "deployStateMachine", ""),
		CatalogFile:            contextString(app, "catalog", "catalog.yaml"),
		WebhookConcurrency:     concurrency,
		NotificationEmails:     emails,
	}, nil
}

// contextString returns the context value key as a string, or def when unset.
func contextString(app awscdk.App, key, def string) string {
	v := app.Node().TryGetContext(jsii.String(key))
	if v == nil {
		return def
	}
	if s, ok := v.(string); ok && s != "" {
		return s
	}
	if s := fmt.Sprint(v); s != "" {
		return s
	}
	return def
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

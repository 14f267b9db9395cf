package main

import (
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
)

func TestContextChoosesInputsAndDefaultsKeepSynthOffline(t *testing.T) {
	t.Setenv("CDK_DEFAULT_ACCOUNT", "")
	t.Setenv("CDK_DEFAULT_REGION", "")
	for name, tc := range map[string]struct {
		context                                map[string]any
		account, region, dist, asl, catalogArg string
	}{
		"defaults": {
			context: map[string]any{},
			account: "123456789012", region: "us-east-1",
			dist: "dist", asl: "", catalogArg: "catalog.yaml",
		},
		"overridden": {
			context: map[string]any{"account": "210987654321", "region": "eu-west-1", "dist": "out", "deployStateMachine": "x.asl.json", "catalog": "services.yaml"},
			account: "210987654321", region: "eu-west-1",
			dist: "out", asl: "x.asl.json", catalogArg: "services.yaml",
		},
	} {
		t.Run(name, func(t *testing.T) {
			// GIVEN an app with that context and no credentials in the environment
			app := awscdk.NewApp(&awscdk.AppProps{Context: &tc.context, Outdir: jsii.String(t.TempDir())})

			// WHEN the stack's inputs are read from it
			p, err := propsFromContext(app)
			if err != nil {
				t.Fatal(err)
			}

			// THEN each is the context's value or the default, and the environment is fixed
			got := []string{*p.Env.Account, *p.Env.Region, p.DistDir, p.DeployStateMachineFile, p.CatalogFile}
			want := []string{tc.account, tc.region, tc.dist, tc.asl, tc.catalogArg}
			for i := range want {
				if got[i] != want[i] {
					t.Errorf("got %v, want %v", got, want)
					break
				}
			}
		})
	}
}

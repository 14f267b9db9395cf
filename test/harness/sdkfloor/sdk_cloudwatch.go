//go:build sdk_cloudwatch

package main

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
)

func init() {
	clients = append(clients, func(cfg aws.Config) any { return cloudwatch.NewFromConfig(cfg) })
}

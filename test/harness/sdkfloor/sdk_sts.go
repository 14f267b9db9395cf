//go:build sdk_sts

package main

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

func init() { clients = append(clients, func(cfg aws.Config) any { return sts.NewFromConfig(cfg) }) }

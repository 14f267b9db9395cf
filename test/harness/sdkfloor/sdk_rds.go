//go:build sdk_rds

package main

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"
)

func init() { clients = append(clients, func(cfg aws.Config) any { return rds.NewFromConfig(cfg) }) }

//go:build sdk_ecs

package main

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
)

func init() { clients = append(clients, func(cfg aws.Config) any { return ecs.NewFromConfig(cfg) }) }

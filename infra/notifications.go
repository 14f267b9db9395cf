package main

import (
	"fmt"
	"net/mail"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/jsii-runtime-go"
)

// Each stack (home and DR) has one notification topic: the backup and
// dr-drill state machines publish their outcomes there (the direct
// aws-sdk:sns:publish integration: a machine may publish to its own stack's
// topic only, integrations.go), and every alarm of the stack sends its state
// changes there.

// notificationTopicName is the name of a stack's topic.
func notificationTopicName(stack string) string { return stack + "-notifications" }

// newNotificationTopic defines the stack's topic: encrypted with the stack's
// key, TLS only, with the emails subscribed. CloudWatch may publish to it
// (and use the key to) for the stack's own alarms only (named STACK-…); no
// one else is granted anything by the topic or key policy.
func newNotificationTopic(stack awscdk.Stack, key awskms.Key, emails []string) awssns.Topic {
	name := *stack.StackName()
	topic := awssns.NewTopic(stack, jsii.String("NotificationTopic"), &awssns.TopicProps{
		TopicName:   jsii.String(notificationTopicName(name)),
		DisplayName: jsii.String("stepship"),
		MasterKey:   key,
		EnforceSSL:  jsii.Bool(true),
	})
	alarms := map[string]any{
		"StringEquals": map[string]any{"aws:SourceAccount": stack.Account()},
		"ArnLike": map[string]any{"aws:SourceArn": stack.FormatArn(&awscdk.ArnComponents{Service: jsii.String("cloudwatch"), Resource: jsii.String("alarm"),
			ResourceName: jsii.String(name + "-*"), ArnFormat: awscdk.ArnFormat_COLON_RESOURCE_NAME})},
	}
	cloudwatch := []awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)}
	topic.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid: jsii.String("TheStacksAlarmsPublish"), Principals: &cloudwatch, Actions: jsii.Strings("sns:Publish"),
		Resources: &[]*string{topic.TopicArn()}, Conditions: &alarms,
	}))
	key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid: jsii.String("TheStacksAlarmsPublishToTheEncryptedTopic"), Principals: &cloudwatch,
		Actions:    jsii.Strings("kms:Decrypt", "kms:GenerateDataKey*"),
		Resources:  jsii.Strings("*"), // in a key policy, "*" is this key
		Conditions: &alarms,
	}), nil)
	for _, e := range emails {
		topic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(e), nil))
	}
	return topic
}

// checkEmails refuses an address SNS could not deliver to.
func checkEmails(emails []string) error {
	for _, e := range emails {
		if a, err := mail.ParseAddress(e); err != nil || a.Address != e {
			return fmt.Errorf("notification email %q is not an address (name@example.com)", e)
		}
	}
	return nil
}

// notifyOn sends an alarm's state changes to the topic: ALARM, and OK too
// when ok (an alarm on a measurement that recovers says so; one on failed
// executions turns OK by itself minutes later, which says nothing).
func notifyOn(alarm awscloudwatch.Alarm, topic awssns.ITopic, ok bool) {
	action := awscloudwatchactions.NewSnsAction(topic)
	alarm.AddAlarmAction(action)
	if ok {
		alarm.AddOkAction(action)
	}
}

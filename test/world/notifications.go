package world

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// Topic is a notification topic of the local stack, with the queue
// subscribed to it that lets a test or the demo read what was published
// (the emulator keeps published messages, but offers no call to read them).
type Topic struct {
	Region   string
	ARN      string
	QueueURL string
}

// SeedTopic creates the topic name in region, as the home or a DR stack
// does, and an SQS queue subscribed to it.
func SeedTopic(ctx context.Context, cfg aws.Config, region, name string) (Topic, error) {
	c := cfg.Copy()
	c.Region = region
	tp := Topic{Region: region}
	t, err := sns.NewFromConfig(c).CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(name)})
	if err != nil {
		return Topic{}, fmt.Errorf("failed to create topic %s in %s: %w", name, region, err)
	}
	tp.ARN = aws.ToString(t.TopicArn)
	q := sqs.NewFromConfig(c)
	queue, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name + "-subscriber")})
	if err != nil {
		return Topic{}, fmt.Errorf("failed to create the queue of topic %s in %s: %w", name, region, err)
	}
	tp.QueueURL = aws.ToString(queue.QueueUrl)
	attrs, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: queue.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		return Topic{}, fmt.Errorf("failed to read the queue of topic %s in %s: %w", name, region, err)
	}
	if _, err := sns.NewFromConfig(c).Subscribe(ctx, &sns.SubscribeInput{TopicArn: t.TopicArn, Protocol: aws.String("sqs"),
		Endpoint: aws.String(attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)])}); err != nil {
		return Topic{}, fmt.Errorf("failed to subscribe the queue to topic %s in %s: %w", name, region, err)
	}
	return tp, nil
}

// Notification is one message published to a topic.
type Notification struct {
	Subject string
	Message string
}

// Notifications returns what was published to the topic since the last
// call (the queue's messages, deleted once read), oldest first as far as
// the queue keeps order.
func (tp Topic) Notifications(ctx context.Context, cfg aws.Config) ([]Notification, error) {
	c := cfg.Copy()
	c.Region = tp.Region
	q := sqs.NewFromConfig(c)
	var out []Notification
	for {
		got, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(tp.QueueURL), MaxNumberOfMessages: 10, VisibilityTimeout: 30})
		if err != nil {
			return nil, fmt.Errorf("failed to read the notifications of %s: %w", tp.ARN, err)
		}
		if len(got.Messages) == 0 {
			return out, nil
		}
		for _, m := range got.Messages {
			// SNS wraps each message for an SQS subscriber that does not
			// ask for raw delivery.
			var env struct{ Subject, Message string }
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &env); err != nil {
				return nil, fmt.Errorf("a notification of %s is not SNS's envelope: %w", tp.ARN, err)
			}
			out = append(out, Notification{Subject: env.Subject, Message: env.Message})
			if _, err := q.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(tp.QueueURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
				return nil, fmt.Errorf("failed to delete a notification of %s: %w", tp.ARN, err)
			}
		}
	}
}

// Package awsproxy is a fault-injecting reverse proxy on 127.0.0.1 in front
// of the AWS emulator (moto, test/localsvc): the paths moto cannot produce —
// throttling, 5xx, timeouts, RDS resources that take time or fail, ECS
// deployments that fail or roll back, tasks that exit non-zero — scripted per
// service, action and call number, against the emulator's real answers.
//
// # Calls
//
// Every call is identified (Identify) by the SigV4 credential scope (signing
// name and region) and its action: X-Amz-Target for JSON protocols
// (AmazonEC2ContainerServiceV20141113.UpdateService → UpdateService), the
// Action form field for query protocols (RDS, IAM, EC2, SNS), the path for
// Smithy RPC v2 CBOR. It is counted per Target, logged (Calls, CallTable,
// Count; the log keeps the latest WithLogLimit calls) and forwarded
// unchanged unless a rule selects it.
//
// # Rules
//
// A Rule matches a service's signing name ("ecs", "rds", "states",
// "secretsmanager", "monitoring", …), an action, optionally a region, the
// caller's SDK application id (Request.App, from the User-Agent's app/NAME)
// and a predicate over the request's parameters (Request.Param), and selects calls
// by number among those it matched (Nth, FromCall, FirstCalls, CallRange;
// the zero Window is every call). Its Effect:
//
//   - Throttle: the service's own throttling error in its protocol's shape
//     (ECS {"__type":"ThrottlingException"} HTTP 400; RDS <ErrorResponse>
//     with Code Throttling, HTTP 400).
//   - ServerError, ServiceUnavailable: HTTP 500 with the service's modeled
//     internal error (ecs/types.ServerException, …) or InternalFailure; 503.
//   - Error(code, message, status): any named error, decoded by the SDK into
//     its typed error (rds/types.SnapshotQuotaExceededFault, …).
//   - Delay(d): forward after d, even when the client has timed out meanwhile
//     (the call takes effect; the caller saw a timeout). Drop(d): close the
//     connection unanswered after d; the call never takes effect.
//   - Respond(f): forward, then let f rewrite the emulator's answer.
//   - Answer(f): answer with f's Response in place of the emulator, for
//     what it does not implement at all.
//
// Every rule counts every call that passes its filters, whatever the other
// rules did to it. When several rules select a call, every Delay and Respond
// applies in the order the rules were added and the first answering effect
// wins, an Answer last: a fault added after a script that answers still
// reaches the caller. A Rule without an Effect only counts (Handle.Matched).
//
// # The SDK's retries
//
// The Go SDK retries throttling errors, 5xx and timeouts itself (up to 3
// attempts by default, each answered by the proxy as a new call). To make it
// give up, select every call (FromCall(1)); to make a retry succeed, select
// the first k (FirstCalls(k) with k < attempts). A test sets the attempts
// with Retryer, which also turns off the backoff wait and the client-side
// retry quota:
//
//	cfg := p.Config(moto.Config(ctx))
//	cfg.Retryer = awsproxy.Retryer(3, 0)
//	p.Add(awsproxy.Rule{Service: "ecs", Action: "UpdateService", Calls: awsproxy.FromCall(1), Effect: awsproxy.Throttle()})
//	// UpdateService now fails with ThrottlingException after 3 attempts.
//
// (or aws.Config.RetryMaxAttempts, or the service client's
// Options.RetryMaxAttempts, keeping the SDK's backoff).
//
// # Scripts
//
// RDSScript and ECSScript are data-driven sets of rules for what RDS and ECS
// do and moto does not; SharedSnapshotScript copies a DB snapshot shared
// from another account as RDS does (share and key grant checked, the copy
// made in the caller's account); CloudWatchScript records alarm state
// changes and answers DescribeAlarmHistory, which moto does not implement
// (see README.md for the FACTS.md behaviour each reproduces). Install adds
// them to a proxy and Script.Remove takes them out.
//
// # Use
//
// Tests use awsproxytest.Start, which closes the proxy at the end, fails the
// test on Errors and prints the call table when it failed. Child processes
// (a bootstrap under the Lambda emulator) are pointed at the proxy with Env.
// Nothing here imports testing, reads the developer's AWS configuration or
// leaves the loopback address; there is no package-level mutable state.
package awsproxy

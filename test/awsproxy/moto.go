package awsproxy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// The calls a script makes to the emulator itself, past every rule: to read
// what another account holds, or to make what moto cannot make in one call.

// motoDefaultAccount is the account moto answers for when a call names
// none (no x-moto-account-id header, an access key it did not issue).
const motoDefaultAccount = "123456789012"

// motoAnswer is the emulator's answer to a script's own call.
type motoAnswer struct {
	Status int
	Body   []byte
}

// ok reports a 2xx answer.
func (a motoAnswer) ok() bool { return a.Status/100 == 2 }

// queryError is the Code and Message of a query-protocol error answer.
func (a motoAnswer) queryError() apiError {
	var e struct {
		Code    string `xml:"Error>Code"`
		Message string `xml:"Error>Message"`
	}
	_ = xml.Unmarshal(a.Body, &e)
	return apiError{Code: e.Code, Message: e.Message, Status: a.Status}
}

// motoQuery makes a query-protocol call (RDS, STS) in region as account.
func (p *Proxy) motoQuery(ctx context.Context, service, region, account string, params url.Values) (motoAnswer, error) {
	return p.motoCall(ctx, service, region, account, "", "application/x-www-form-urlencoded; charset=utf-8", []byte(params.Encode()))
}

// motoJSON makes a JSON-protocol call (KMS: target "TrentService.ListGrants")
// in region as account.
func (p *Proxy) motoJSON(ctx context.Context, service, region, account, target string, in any) (motoAnswer, error) {
	body, err := json.Marshal(in)
	if err != nil {
		return motoAnswer{}, err
	}
	return p.motoCall(ctx, service, region, account, target, "application/x-amz-json-1.1", body)
}

// motoCall signs the call with the emulator's default test credentials and
// names the account in moto's x-moto-account-id header (an empty account:
// the default one).
func (p *Proxy) motoCall(ctx context.Context, service, region, account, target, contentType string, body []byte) (motoAnswer, error) {
	ctx, cancel := context.WithTimeout(ctx, p.opts.forwardTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(p.target.String(), "/")+"/", bytes.NewReader(body))
	if err != nil {
		return motoAnswer{}, err
	}
	req.Header.Set("Content-Type", contentType)
	if target != "" {
		req.Header.Set("X-Amz-Target", target)
	}
	if account != "" {
		req.Header.Set("X-Moto-Account-Id", account)
	}
	if err := sign(ctx, req, body, "testing", service, region); err != nil {
		return motoAnswer{}, err
	}
	return p.motoDo(req)
}

func (p *Proxy) motoDo(req *http.Request) (motoAnswer, error) {
	resp, err := p.client.Do(req)
	if err != nil {
		return motoAnswer{}, fmt.Errorf("calling the emulator: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, int64(p.opts.responseLimit)))
	if err != nil {
		return motoAnswer{}, fmt.Errorf("reading the emulator's answer: %w", err)
	}
	return motoAnswer{Status: resp.StatusCode, Body: b}, nil
}

// sign signs req with SigV4 for the access key (moto checks no secret).
func sign(ctx context.Context, req *http.Request, body []byte, accessKey, service, region string) error {
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: accessKey, SecretAccessKey: "awsproxy"}
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), service, region, time.Now()); err != nil {
		return fmt.Errorf("signing %s in %s: %w", service, region, err)
	}
	return nil
}

// accessKeyRE reads the access key from a SigV4 Authorization header.
var accessKeyRE = regexp.MustCompile(`Credential=([^/,\s]+)/`)

// accountOf is the account moto acts in for a call: its x-moto-account-id
// header, else the account of its access key (an assumed role's key is its
// role's account), asked of the emulator once per key with
// GetCallerIdentity.
func (p *Proxy) accountOf(ctx context.Context, r *Request) (string, error) {
	if a := r.Header.Get("X-Moto-Account-Id"); a != "" {
		return a, nil
	}
	m := accessKeyRE.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil {
		return motoDefaultAccount, nil
	}
	key := m[1]
	p.mu.Lock()
	a, ok := p.accounts[key]
	p.mu.Unlock()
	if ok {
		return a, nil
	}
	body := []byte(url.Values{"Action": {"GetCallerIdentity"}, "Version": {"2011-06-15"}}.Encode())
	ctx, cancel := context.WithTimeout(ctx, p.opts.forwardTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(p.target.String(), "/")+"/", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	region := r.Region
	if region == "" {
		region = "us-east-1"
	}
	if err := sign(ctx, req, body, key, "sts", region); err != nil {
		return "", err
	}
	ans, err := p.motoDo(req)
	if err != nil {
		return "", err
	}
	var id struct {
		Account string `xml:"GetCallerIdentityResult>Account"`
	}
	if err := xml.Unmarshal(ans.Body, &id); err != nil || !ans.ok() || id.Account == "" {
		return "", fmt.Errorf("the emulator did not say whose access key %s is (HTTP %d): %s", key, ans.Status, ans.Body)
	}
	p.mu.Lock()
	if p.accounts == nil {
		p.accounts = map[string]string{}
	}
	p.accounts[key] = id.Account
	p.mu.Unlock()
	return id.Account, nil
}

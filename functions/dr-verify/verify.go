package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/stepship/stepship/shared/backup"
	"github.com/stepship/stepship/shared/catalog"
	"github.com/stepship/stepship/shared/logging"
	"github.com/stepship/stepship/shared/payload"
	"github.com/stepship/stepship/shared/taskerr"
)

// secretGetter is the Secrets Manager call the verifier makes.
type secretGetter interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

var _ secretGetter = (*secretsmanager.Client)(nil)

// Task is what the dr-drill state machine sends the verifier.
type Task struct {
	Service     string `json:"service"`
	Environment string `json:"environment"`
	// Restored names the database the drill restored.
	Restored backup.Restored `json:"restored"`
	// Endpoint is where it answers, as DescribeDBInstances reports it.
	Endpoint Endpoint `json:"endpoint"`
	// ExpectedSchemaVersion is the migration version the data must have
	// (optional: without it the version found is reported, not compared).
	ExpectedSchemaVersion *int64 `json:"expectedSchemaVersion,omitempty"`
	// RestoreStartedAt is when the restore began: the RTO is measured from
	// it.
	RestoreStartedAt *time.Time `json:"restoreStartedAt,omitempty"`
}

// Endpoint is a database's address, with the names DescribeDBInstances
// gives them.
type Endpoint struct {
	Address string `json:"Address"`
	Port    int32  `json:"Port"`
}

// Verifier checks a restored database's data.
type Verifier struct {
	catalog *catalog.Catalog
	region  string
	secrets secretGetter
	connect connector
	log     *slog.Logger
	now     func() time.Time
}

// Option sets an optional setting of a Verifier.
type Option func(*Verifier)

// WithClock replaces time.Now.
func WithClock(now func() time.Time) Option { return func(v *Verifier) { v.now = now } }

// WithConnector replaces how the verifier connects (pgx.ConnectConfig).
func WithConnector(c connector) Option { return func(v *Verifier) { v.connect = c } }

// NewVerifier returns a Verifier running in region (the drills' DR region)
// with that region's Secrets Manager client: a database's credentials are
// read from its secret's replica there (backup.SecretReplica), through the
// DR VPC's endpoint, never from the home region.
func NewVerifier(cat *catalog.Catalog, region string, secrets secretGetter, log *slog.Logger, opts ...Option) (*Verifier, error) {
	if cat == nil || region == "" || secrets == nil || log == nil {
		return nil, errors.New("dr-verify: catalog, region, secrets and logger are required")
	}
	v := &Verifier{catalog: cat, region: region, secrets: secrets, connect: pgxConnect, log: log, now: time.Now}
	for _, o := range opts {
		o(v)
	}
	return v, nil
}

// Check kinds of a drill report.
const (
	CheckSchema    = "schema"
	CheckTable     = "table"
	CheckAssertion = "assertion"
)

// Check is one verification of the restored data.
type Check struct {
	Name   string `json:"name"`
	Kind   string `json:"kind"`
	Passed bool   `json:"passed"`
	Detail string `json:"detail"`
}

// Report is what verify found: every check, whether all passed, and the
// recovery time measured.
type Report struct {
	Passed bool    `json:"passed"`
	Checks []Check `json:"checks"`
	// SchemaVersion is the migration version found (goose's table).
	SchemaVersion *int64    `json:"schemaVersion,omitempty"`
	VerifiedAt    time.Time `json:"verifiedAt"`
	// RTOSeconds is the time from the start of the restore to this report.
	RTOSeconds *int64 `json:"rtoSeconds,omitempty"`
}

// credentials are the fields of an RDS database secret verify uses.
type credentials struct {
	Username string `json:"username"`
	Password string `json:"password"`
	DBName   string `json:"dbname"`
}

// connector opens a connection to a PostgreSQL database. The verifier uses
// pgx's low-level pgconn: every value it checks is compared as text, so it
// needs none of pgx's type mapping (and stays under the size budget).
type connector func(ctx context.Context, cfg *pgconn.Config) (*pgconn.PgConn, error)

func pgxConnect(ctx context.Context, cfg *pgconn.Config) (*pgconn.PgConn, error) {
	return pgconn.ConnectConfig(ctx, cfg)
}

// Bounds of verify's work on the restored database.
const (
	connectTimeout   = 10 * time.Second
	statementTimeout = 30 * time.Second
	maxDetail        = 200
)

// goose's version table, and its current version: the highest version whose
// latest row is applied (a later row with is_applied false is a down
// migration).
const (
	gooseTable        = "goose_db_version"
	gooseVersionQuery = `SELECT max(version_id) FROM (SELECT DISTINCT ON (version_id) version_id, is_applied FROM ` + gooseTable + ` ORDER BY version_id, id DESC) v WHERE is_applied`
)

// Handle connects to the restored database with the credentials in the
// database's secret and checks the data: the schema version, that every
// configured table has rows, and each SQL assertion of the catalog, each in
// a read-only transaction. A failed check is in the report, not an error:
// errors are for what kept it from checking (DatabaseUnreachable), or a bad
// input (InvalidDrillRequest, UnknownTarget).
func (h *Verifier) Handle(ctx context.Context, inv payload.Invocation[Task]) (Report, error) {
	t := inv.Input
	log := logging.ForExecution(h.log, inv.ExecutionID).With(slog.String("instance", t.Restored.Instance))
	tg, err := backup.DrillTarget(h.catalog, t.Service, t.Environment, h.region)
	if err != nil {
		return Report{}, err
	}
	if t.Restored.Instance == "" || t.Endpoint.Address == "" || t.Endpoint.Port == 0 {
		return Report{}, &taskerr.InvalidDrillRequest{Reason: "restored.instance and endpoint (Address and Port of the restored database) are required"}
	}
	creds, err := h.credentials(ctx, tg.Database.Secret)
	if err != nil {
		return Report{}, &taskerr.DatabaseUnreachable{Reason: err.Error()}
	}
	cfg, err := connConfig(t.Endpoint, creds)
	if err != nil {
		return Report{}, &taskerr.DatabaseUnreachable{Reason: err.Error()}
	}
	conn, err := h.connect(ctx, cfg)
	if err != nil {
		// pgconn's error names host, user and database, never the password.
		return Report{}, &taskerr.DatabaseUnreachable{Reason: fmt.Sprintf("failed to connect to the restored database %s at %s:%d: %v", t.Restored.Instance, t.Endpoint.Address, t.Endpoint.Port, err)}
	}
	defer conn.Close(context.WithoutCancel(ctx))

	rep := Report{Checks: []Check{}}
	version, check := schemaCheck(ctx, conn, t.ExpectedSchemaVersion)
	rep.SchemaVersion = version
	rep.Checks = append(rep.Checks, check)
	for _, table := range tg.Drill.Tables {
		rep.Checks = append(rep.Checks, tableCheck(ctx, conn, table))
	}
	for _, a := range tg.Drill.Assertions {
		rep.Checks = append(rep.Checks, assertionCheck(ctx, conn, a))
	}
	rep.Passed = true
	for _, c := range rep.Checks {
		rep.Passed = rep.Passed && c.Passed
	}
	rep.VerifiedAt = h.now().UTC()
	if s := t.RestoreStartedAt; s != nil && !s.IsZero() {
		rto := int64(rep.VerifiedAt.Sub(*s) / time.Second)
		rep.RTOSeconds = &rto
	}
	log.Info("restored data verified", slog.Bool("passed", rep.Passed), slog.Int("checks", len(rep.Checks)), slog.Any("rtoSeconds", rep.RTOSeconds))
	return rep, nil
}

// credentials reads the database's secret from its replica in the
// verifier's region. Its value never reaches an error or a log.
func (h *Verifier) credentials(ctx context.Context, catalogSecret string) (credentials, error) {
	secretARN, err := backup.SecretReplica(catalogSecret, h.region)
	if err != nil {
		return credentials{}, fmt.Errorf("the catalog's secret: %v", err)
	}
	out, err := h.secrets.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(secretARN)})
	if err != nil {
		return credentials{}, fmt.Errorf("failed to read the database credentials from %s, the replica in %s of %s (replicate the secret there): %v", secretARN, h.region, catalogSecret, err)
	}
	var c credentials
	if err := json.Unmarshal([]byte(aws.ToString(out.SecretString)), &c); err != nil || c.Username == "" {
		return credentials{}, fmt.Errorf("secret %s is not the JSON RDS writes (username, password): its value was not used", secretARN)
	}
	return c, nil
}

// connConfig builds the connection settings without going through a string
// a password could leak from: the URL carries host, port, database, sslmode
// and the connect timeout, the credentials are set on the parsed config.
// pgconn.ParseConfig still fills what the URL does not set from PG*
// variables of the environment; the function's Lambda configuration sets
// none (infra), so none apply.
func connConfig(ep Endpoint, c credentials) (*pgconn.Config, error) {
	db := c.DBName
	if db == "" {
		db = "postgres"
	}
	u := url.URL{Scheme: "postgres", Host: net.JoinHostPort(ep.Address, strconv.Itoa(int(ep.Port))), Path: "/" + db,
		RawQuery: url.Values{"sslmode": {"prefer"}, "connect_timeout": {strconv.Itoa(int(connectTimeout / time.Second))}}.Encode()}
	cfg, err := pgconn.ParseConfig(u.String())
	if err != nil {
		return nil, fmt.Errorf("failed to build the connection settings for %s: %v", ep.Address, err)
	}
	cfg.User, cfg.Password = c.Username, c.Password
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	cfg.RuntimeParams["statement_timeout"] = strconv.Itoa(int(statementTimeout / time.Millisecond))
	cfg.RuntimeParams["application_name"] = "stepship-drill"
	return cfg, nil
}

// queryText runs one statement (the extended protocol refuses several) in
// a read-only transaction that is always rolled back, and returns the text
// of each row's first column ("NULL" for null).
func queryText(ctx context.Context, conn *pgconn.PgConn, sql string) ([]string, error) {
	if err := conn.Exec(ctx, "BEGIN READ ONLY").Close(); err != nil {
		return nil, err
	}
	defer func() { _ = conn.Exec(context.WithoutCancel(ctx), "ROLLBACK").Close() }()
	rr := conn.ExecParams(ctx, sql, nil, nil, nil, []int16{textFormat})
	var out []string
	for rr.NextRow() {
		v := "NULL"
		if vals := rr.Values(); len(vals) > 0 && vals[0] != nil {
			v = string(vals[0])
		}
		out = append(out, v)
	}
	if _, err := rr.Close(); err != nil {
		return nil, err
	}
	return out, nil
}

// textFormat is PostgreSQL's text result format code.
const textFormat = 0

// one returns the only row of a query.
func one(rows []string, err error) (string, error) {
	if err != nil {
		return "", err
	}
	if len(rows) != 1 {
		return "", fmt.Errorf("%w: %d rows", errNotOneRow, len(rows))
	}
	return rows[0], nil
}

// errNotOneRow: a query returned no row or several.
var errNotOneRow = errors.New("not exactly one row")

func schemaCheck(ctx context.Context, conn *pgconn.PgConn, expected *int64) (*int64, Check) {
	c := Check{Name: gooseTable, Kind: CheckSchema}
	got, err := one(queryText(ctx, conn, gooseVersionQuery))
	if err != nil {
		c.Detail = cut("failed to read the migration version: " + err.Error())
		return nil, c
	}
	found, err := strconv.ParseInt(got, 10, 64)
	if err != nil {
		c.Detail = "no migration is applied"
		return nil, c
	}
	if expected == nil {
		c.Passed, c.Detail = true, fmt.Sprintf("version %d (no expected version given: not compared)", found)
	} else if found == *expected {
		c.Passed, c.Detail = true, fmt.Sprintf("version %d, as expected", found)
	} else {
		c.Detail = fmt.Sprintf("version %d, want %d", found, *expected)
	}
	return &found, c
}

func tableCheck(ctx context.Context, conn *pgconn.PgConn, table string) Check {
	c := Check{Name: table, Kind: CheckTable}
	got, err := one(queryText(ctx, conn, "SELECT EXISTS (SELECT 1 FROM "+quoteIdentifier(table)+")"))
	if err != nil {
		c.Detail = cut("failed to read the table: " + err.Error())
	} else if got != "t" {
		c.Detail = "has no rows"
	} else {
		c.Passed, c.Detail = true, "has rows"
	}
	return c
}

// quoteIdentifier quotes a table name, "schema.table" as two identifiers
// (the catalog allows only lower-case letters, digits and '_' in each).
func quoteIdentifier(table string) string {
	parts := strings.Split(table, ".")
	for i, p := range parts {
		parts[i] = `"` + strings.ReplaceAll(p, `"`, `""`) + `"`
	}
	return strings.Join(parts, ".")
}

func assertionCheck(ctx context.Context, conn *pgconn.PgConn, a catalog.Assertion) Check {
	c := Check{Name: a.Name, Kind: CheckAssertion}
	got, err := one(queryText(ctx, conn, a.Query))
	if err != nil {
		c.Detail = cut("the query failed: " + err.Error())
	} else if got != a.Expect {
		c.Detail = cut(fmt.Sprintf("got %q, want %q", got, a.Expect))
	} else {
		c.Passed, c.Detail = true, fmt.Sprintf("got %q", got)
	}
	return c
}

// cut bounds a detail (an error or a query result) in the report to
// maxDetail bytes, at a character boundary: a query result's multi-byte
// character is never split into invalid UTF-8.
func cut(s string) string {
	if len(s) <= maxDetail {
		return s
	}
	i := maxDetail
	for j := 0; j < utf8.UTFMax-1 && i > 0 && !utf8.RuneStart(s[i]); j++ {
		i--
	}
	return s[:i] + "…"
}

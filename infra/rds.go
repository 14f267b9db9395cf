package main

import (
	"fmt"
	"slices"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"

	"github.com/stepship/stepship/shared/backup"
	"github.com/stepship/stepship/shared/catalog"
	"github.com/stepship/stepship/shared/payload"
)

// The RDS permissions of the backup and drill machines and functions, each
// on exactly what the catalog names, in the region it is used in: the
// catalog's DB instances and Aurora clusters, stepship's snapshots of them
// (stepship-DB-*, backup.SnapshotPrefix), the databases a drill or a failover
// restores from them (drill-DB-*, failover-DB-*, backup.RestoredPrefix), the
// drill's subnet group, and the DR region's KMS key (backup.drKmsKey).

// rdsNames are the RDS resources of one catalog database in one region.
type rdsNames struct {
	stack  awscdk.Stack
	region string
	db     catalog.Database
}

func (n rdsNames) arn(typ, name string) *string { return n.arnIn("", typ, name) }

// arnIn is arn in another account (the stack's when empty).
func (n rdsNames) arnIn(account, typ, name string) *string {
	c := &awscdk.ArnComponents{Service: jsii.String("rds"), Region: jsii.String(n.region),
		Resource: jsii.String(typ), ResourceName: jsii.String(name), ArnFormat: awscdk.ArnFormat_COLON_RESOURCE_NAME}
	if account != "" {
		c.Account = jsii.String(account)
	}
	return n.stack.FormatArn(c)
}

// database is the instance (db:ID) or the Aurora cluster (cluster:ID).
func (n rdsNames) database() *string {
	if n.db.Aurora() {
		return n.arn("cluster", n.db.Identifier())
	}
	return n.arn("db", n.db.Identifier())
}

// snapshots are stepship's snapshots of it and their copies.
func (n rdsNames) snapshots() *string { return n.snapshotsIn("") }

// snapshotsIn are snapshots in another account (the stack's when empty).
func (n rdsNames) snapshotsIn(account string) *string {
	return n.arnIn(account, pick(n.db, "snapshot", "cluster-snapshot"), backup.SnapshotPrefix(n.db.Identifier())+"*")
}

// restored are the instances (and for Aurora the clusters) a drill or a
// failover restores from them.
func (n rdsNames) restored(modes ...payload.DrillMode) (instances, clusters []*string) {
	for _, m := range modes {
		prefix := backup.RestoredPrefix(string(m), n.db.Identifier())
		instances = append(instances, n.arn("db", prefix+"*"))
		if n.db.Aurora() {
			clusters = append(clusters, n.arn("cluster", prefix+"*"))
		}
	}
	return instances, clusters
}

// bothModes are what the drill machine restores: drills, and confirmed failovers.
var bothModes = []payload.DrillMode{payload.ModeDrill, payload.ModeFailover}

// rdsAccess collects the resources of one set of actions over the catalog's
// databases; empty sets make no statement.
type rdsAccess struct {
	sid        string
	actions    []string
	resources  []*string
	conditions map[string]any
}

func (a *rdsAccess) add(rs ...*string) {
	for _, r := range rs {
		a.resources = appendNew(a.resources, r)
	}
}

// statements returns one statement for each access that has resources.
func statements(accesses ...*rdsAccess) []awsiam.PolicyStatement {
	var out []awsiam.PolicyStatement
	for _, a := range accesses {
		if len(a.resources) == 0 {
			continue
		}
		props := &awsiam.PolicyStatementProps{Actions: jsii.Strings(dedupe(a.actions)...), Resources: &a.resources}
		if a.sid != "" {
			props.Sid = jsii.String(a.sid)
		}
		if a.conditions != nil {
			props.Conditions = &a.conditions
		}
		out = append(out, awsiam.NewPolicyStatement(props))
	}
	return out
}

// pick is instance when the database is an RDS instance, cluster when Aurora.
func pick[T any](db catalog.Database, instance, cluster T) T {
	if db.Aurora() {
		return cluster
	}
	return instance
}

// onlyEncrypted lets a snapshot be taken of an encrypted instance only
// (rds:StorageEncrypted, when RDS puts it in the request's context).
var onlyEncrypted = map[string]any{"BoolIfExists": map[string]any{"rds:StorageEncrypted": "true"}}

// rdsIntegrationStatements are the permissions of a state machine's direct
// RDS SDK integrations (actions, e.g. "rds:CreateDBSnapshot"), in its stack's
// region, on the databases of targets that have a backup. An action this
// function does not know fails the synth.
func rdsIntegrationStatements(stack awscdk.Stack, actions []string, targets []catalog.Target) ([]awsiam.PolicyStatement, error) {
	var out []awsiam.PolicyStatement
	for _, action := range dedupe(actions) {
		databases := &rdsAccess{actions: []string{action}, conditions: onlyEncrypted}
		snapshots := &rdsAccess{actions: []string{action, "rds:AddTagsToResource"}}
		described := &rdsAccess{actions: []string{action}}
		for _, t := range targets {
			if t.Backup == nil {
				continue
			}
			n := rdsNames{stack: stack, region: *stack.Region(), db: *t.Database}
			switch action {
			case "rds:CreateDBSnapshot", "rds:CreateDBClusterSnapshot":
				if action == pick(*t.Database, "rds:CreateDBSnapshot", "rds:CreateDBClusterSnapshot") {
					databases.add(n.database())
					snapshots.add(n.snapshots())
				}
			case "rds:DescribeDBSnapshots", "rds:DescribeDBClusterSnapshots":
				if action == pick(*t.Database, "rds:DescribeDBSnapshots", "rds:DescribeDBClusterSnapshots") {
					described.add(n.database(), n.snapshots())
				}
			case "rds:DescribeDBInstances":
				if t.Drill != nil {
					instances, _ := n.restored(bothModes...)
					described.add(instances...)
				}
			default:
				return nil, fmt.Errorf("no permissions are defined for the SDK integration %s (add it to rdsIntegrationStatements in infra/rds.go)", action)
			}
		}
		if action == "rds:CreateDBClusterSnapshot" {
			databases.conditions = nil // rds:StorageEncrypted is the instance's key only
		}
		out = append(out, statements(databases, snapshots, described)...)
	}
	return out, nil
}

// grantSnapshotCopies gives the snapshot function exactly the calls it makes
// for each database with a backup: read stepship's snapshots in the home and
// the DR region, copy them to the DR region (tagged, re-encrypted with the
// catalog's drKmsKey, and only with that key) and delete them in both.
func grantSnapshotCopies(stack awscdk.Stack, role awsiam.IGrantable, targets []catalog.Target) {
	home := *stack.Region()
	// By kind: an instance's snapshots, an Aurora cluster's.
	read := [2]*rdsAccess{{sid: "ReadStepshipsSnapshots", actions: []string{"rds:DescribeDBSnapshots"}},
		{sid: "ReadStepshipsClusterSnapshots", actions: []string{"rds:DescribeDBClusterSnapshots"}}}
	copySnapshots := [2]*rdsAccess{{sid: "CopyStepshipsSnapshotsToTheDRRegion", actions: []string{"rds:CopyDBSnapshot", "rds:CrossRegionCommunication"}},
		{sid: "CopyStepshipsClusterSnapshotsToTheDRRegion", actions: []string{"rds:CopyDBClusterSnapshot", "rds:CrossRegionCommunication"}}}
	del := [2]*rdsAccess{{sid: "PruneStepshipsSnapshots", actions: []string{"rds:DeleteDBSnapshot"}},
		{sid: "PruneStepshipsClusterSnapshots", actions: []string{"rds:DeleteDBClusterSnapshot"}}}
	tag := &rdsAccess{sid: "TagTheCopies", actions: []string{"rds:AddTagsToResource"}}
	var keys []drKey
	for _, t := range targets {
		if t.Backup == nil {
			continue
		}
		dr := t.Backup.DRRegion
		h, d := rdsNames{stack, home, *t.Database}, rdsNames{stack, dr, *t.Database}
		kind := pick(*t.Database, 0, 1)
		read[kind].add(h.database(), h.snapshots(), d.database(), d.snapshots())
		copySnapshots[kind].add(h.snapshots(), d.snapshots())
		del[kind].add(h.snapshots(), d.snapshots())
		tag.add(d.snapshots())
		keys = appendKey(keys, drKey{t.Backup.DRKMSKey, dr})
	}
	for _, st := range statements(read[0], read[1], copySnapshots[0], copySnapshots[1], tag, del[0], del[1]) {
		role.GrantPrincipal().AddToPrincipalPolicy(st)
	}
	grantRDSKeyUse(role, keys)
}

// drKey is a catalog drKmsKey and its region.
type drKey struct{ arn, region string }

func appendKey(keys []drKey, k drKey) []drKey {
	if slices.Contains(keys, k) {
		return keys
	}
	return append(keys, k)
}

// grantRDSKeyUse lets RDS use the catalog's DR keys on the role's behalf, and
// nothing else: grants for AWS resources (an encrypted copy, a database
// restored from it) through RDS in the key's region.
func grantRDSKeyUse(role awsiam.IGrantable, keys []drKey) {
	for _, k := range keys {
		via := map[string]any{"kms:ViaService": "rds." + k.region + ".amazonaws.com"}
		for _, st := range statements(
			&rdsAccess{actions: []string{"kms:CreateGrant"}, resources: []*string{jsii.String(k.arn)},
				conditions: map[string]any{"StringEquals": via, "Bool": map[string]any{"kms:GrantIsForAWSResource": "true"}}},
			&rdsAccess{actions: []string{"kms:DescribeKey"}, resources: []*string{jsii.String(k.arn)},
				conditions: map[string]any{"StringEquals": via}},
		) {
			role.GrantPrincipal().AddToPrincipalPolicy(st)
		}
	}
}

// noPublicAccess refuses a restore or an instance that would be publicly
// accessible (the restore function always asks for PubliclyAccessible=false).
var noPublicAccess = map[string]any{"Bool": map[string]any{"rds:PubliclyAccessible": "false"}}

// grantDrillRestores gives the restore function exactly the calls it makes
// in its DR region for each drill there: read and mark the copies, restore
// them (only into the drill's subnet group, with the default option and
// parameter groups, never publicly accessible), read what it restored, and
// delete only a drill's database (named drill-DB-*, tagged
// stepship:purpose=drill): never a failover's, never the catalog's.
func grantDrillRestores(stack awscdk.Stack, role awsiam.IGrantable, targets []catalog.Target) {
	region := *stack.Region()
	arn := func(typ, name string) *string { return rdsNames{stack: stack, region: region}.arn(typ, name) }
	read := [2]*rdsAccess{{sid: "ReadTheCopies", actions: []string{"rds:DescribeDBSnapshots"}},
		{sid: "ReadTheClusterCopies", actions: []string{"rds:DescribeDBClusterSnapshots"}}}
	// Only the in-use mark: no other tag on a copy (a pre-deploy mark, an
	// older taken-at) may be written by what restores it.
	mark := &rdsAccess{sid: "MarkTheCopyInUse", actions: []string{"rds:AddTagsToResource", "rds:RemoveTagsFromResource"},
		conditions: map[string]any{"ForAllValues:StringEquals": map[string]any{"aws:TagKeys": []string{backup.TagInUseBy}}}}
	restore := &rdsAccess{sid: "RestoreIntoTheDrillSubnetGroup", actions: []string{"rds:RestoreDBInstanceFromDBSnapshot"}, conditions: noPublicAccess}
	restoreCluster := &rdsAccess{sid: "RestoreClustersIntoTheDrillSubnetGroup", actions: []string{"rds:RestoreDBClusterFromSnapshot"}}
	writer := &rdsAccess{sid: "CreateTheRestoredClustersWriter", actions: []string{"rds:CreateDBInstance"}, conditions: noPublicAccess}
	tagRestored := &rdsAccess{sid: "TagWhatItRestores", actions: []string{"rds:AddTagsToResource"}}
	describe := &rdsAccess{sid: "ReadWhatItRestored", actions: []string{"rds:DescribeDBInstances"}}
	deleteDrill := &rdsAccess{sid: "DeleteOnlyADrillsDatabase", actions: []string{"rds:DeleteDBInstance", "rds:DeleteDBCluster"},
		conditions: map[string]any{"StringEquals": map[string]any{"aws:ResourceTag/" + backup.TagPurpose: string(payload.ModeDrill)}}}
	var keys []drKey
	for _, t := range targets {
		if t.Drill == nil || t.Backup.DRRegion != region {
			continue
		}
		n := rdsNames{stack, region, *t.Database}
		instances, clusters := n.restored(bothModes...)
		drillInstances, drillClusters := n.restored(payload.ModeDrill)
		subnetGroup := arn("subgrp", t.Drill.SubnetGroup)
		read[pick(*t.Database, 0, 1)].add(n.database(), n.snapshots())
		mark.add(n.snapshots())
		tagRestored.add(instances...)
		tagRestored.add(clusters...)
		describe.add(instances...)
		deleteDrill.add(drillInstances...)
		deleteDrill.add(drillClusters...)
		if t.Database.Aurora() {
			restoreCluster.add(n.snapshots(), subnetGroup, arn("og", "default:*"), arn("cluster-pg", "default.*"))
			restoreCluster.add(clusters...)
			writer.add(arn("og", "default:*"), arn("pg", "default.*"), subnetGroup)
			writer.add(instances...)
			writer.add(clusters...)
		} else {
			restore.add(n.snapshots(), subnetGroup, arn("og", "default:*"), arn("pg", "default.*"))
			restore.add(instances...)
		}
		keys = appendKey(keys, drKey{t.Backup.DRKMSKey, region})
	}
	for _, st := range statements(read[0], read[1], mark, restore, restoreCluster, writer, tagRestored, describe, deleteDrill) {
		role.GrantPrincipal().AddToPrincipalPolicy(st)
	}
	grantRDSKeyUse(role, keys)
}

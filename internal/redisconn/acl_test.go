package redisconn_test

import (
	"context"
	"testing"
	"time"

	"github.com/lsqdispatch/lsqdispatch/enqueue"
	"github.com/lsqdispatch/lsqdispatch/internal/testutil"
)

// aclUser is the least a notifyd or notifyctl user needs: asynq's keys and
// ours (so that Redis may be shared with other applications), asynq's
// cancellation channel, and no dangerous commands (CONFIG, FLUSHALL, DEBUG,
// KEYS…). The default user is off, so nothing works without the password.
var aclUser = []string{
	"--user", "default", "off",
	"--user", "lsqd", "on", ">" + secret, "~asynq:*", "~lsqd:*", "&asynq:*", "+@all", "-@dangerous",
}

func TestACL_DrainAsLeastPrivilegedUser(t *testing.T) {
	t.Parallel()
	n := testutil.StartPrivateRedis(t, aclUser...)
	b := setupDrain(t, "redis://lsqd:"+secret+"@"+n.Addr+"/0")
	b.startWorker(t, 4)
	b.campaign(t, "acl", 20)
	checkLimit(t, b.waitDelivered(t, 20, 20*time.Second))
}

func TestACL_RefusedCredentials(t *testing.T) {
	t.Parallel()
	n := testutil.StartPrivateRedis(t, aclUser...)
	for name, url := range map[string]string{
		"WrongPassword": "redis://lsqd:" + secret + "x@" + n.Addr + "/0",
		"WrongUser":     "redis://nobody:" + secret + "@" + n.Addr + "/0",
		"NoUser":        "redis://:" + secret + "@" + n.Addr + "/0",
		"NoCredentials": "redis://" + n.Addr + "/0",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			err := ping(t, url)
			wantErr(t, err, "refused the credentials")
			if err != nil && name != "NoCredentials" {
				wantErr(t, err, "xxxxx")
			}
			// What notifyctl and producers see.
			_, err = enqueue.New(context.Background(), url)
			if name == "NoCredentials" {
				wantErr(t, err, "NOAUTH")
			} else {
				wantErr(t, err, "WRONGPASS")
			}
		})
	}
}

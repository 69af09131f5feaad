package redisconn_test

import (
	"fmt"

	"github.com/lsqdispatch/lsqdispatch/internal/redisconn"
)

func ExampleParse() {
	for _, url := range []string{
		"redis://lsqd:s3cret@127.0.0.1:6379/0",
		"rediss://redis.internal:6380/0",
		"redis-sentinel://10.0.0.1,10.0.0.2,10.0.0.3/0?master=mymaster",
		"redis-cluster://10.0.1.1:7000,10.0.1.2:7000",
	} {
		c, err := redisconn.Parse(url)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(c.Kind, c, c.Universal.Addrs, "TLS:", c.TLS())
	}
	_, err := redisconn.Parse("redis://lsqd:s3cret@127.0.0.1:6379/0?tls_ca=/etc/ca.pem")
	fmt.Println(err)
	// Output:
	// single redis://lsqd:xxxxx@127.0.0.1:6379/0 [127.0.0.1:6379] TLS: false
	// single rediss://redis.internal:6380/0 [redis.internal:6380] TLS: true
	// sentinel redis-sentinel://10.0.0.1,10.0.0.2,10.0.0.3/0?master=mymaster [10.0.0.1:26379 10.0.0.2:26379 10.0.0.3:26379] TLS: false
	// cluster redis-cluster://10.0.1.1:7000,10.0.1.2:7000 [10.0.1.1:7000 10.0.1.2:7000] TLS: false
	// Redis URL redis://lsqd:xxxxx@127.0.0.1:6379/0?tls_ca=/etc/ca.pem: tls_* options need TLS: use rediss:// (or tls=true with redis-sentinel:// and redis-cluster://)
}

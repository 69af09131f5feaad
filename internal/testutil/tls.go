package testutil

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TLSFiles are a throwaway CA and the certificates it signed, as PEM files
// in a test's temporary directory.
type TLSFiles struct {
	// CA is the CA's certificate.
	CA string
	// ServerCert and ServerKey are for 127.0.0.1, ::1 and localhost; they
	// serve as client certificate too (replication, the cluster bus).
	ServerCert, ServerKey string
	// ClientCert and ClientKey are a client certificate (CN "lsqd-test-client").
	ClientCert, ClientKey string
	// OtherCA is a second CA that signed nothing here: trusting it instead
	// of CA makes verification fail.
	OtherCA string

	pool *x509.CertPool
}

// NewTLSFiles generates a CA, a server and a client certificate (ECDSA
// P-256, valid for a day) with crypto/x509, so that no openssl is needed.
func NewTLSFiles(tb testing.TB) *TLSFiles {
	tb.Helper()
	dir := tb.TempDir()
	f := &TLSFiles{
		CA: filepath.Join(dir, "ca.pem"), OtherCA: filepath.Join(dir, "other-ca.pem"),
		ServerCert: filepath.Join(dir, "server.pem"), ServerKey: filepath.Join(dir, "server-key.pem"),
		ClientCert: filepath.Join(dir, "client.pem"), ClientKey: filepath.Join(dir, "client-key.pem"),
	}
	now := time.Now()
	caKey, caCert := mustCert(tb, &x509.Certificate{
		Subject: pkix.Name{CommonName: "lsqd-test-ca"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
	}, nil, nil)
	writePEM(tb, f.CA, "CERTIFICATE", caCert.Raw)
	_, other := mustCert(tb, &x509.Certificate{
		Subject: pkix.Name{CommonName: "lsqd-other-ca"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
	}, nil, nil)
	writePEM(tb, f.OtherCA, "CERTIFICATE", other.Raw)
	srvKey, srv := mustCert(tb, &x509.Certificate{
		Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		NotBefore:   now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
	}, caCert, caKey)
	writePEM(tb, f.ServerCert, "CERTIFICATE", srv.Raw)
	writeKey(tb, f.ServerKey, srvKey)
	cliKey, cli := mustCert(tb, &x509.Certificate{
		Subject: pkix.Name{CommonName: "lsqd-test-client"}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		NotBefore:   now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
	}, caCert, caKey)
	writePEM(tb, f.ClientCert, "CERTIFICATE", cli.Raw)
	writeKey(tb, f.ClientKey, cliKey)
	f.pool = x509.NewCertPool()
	f.pool.AddCert(caCert)
	return f
}

var serial = big.NewInt(time.Now().UnixNano())

// mustCert creates a key and a certificate signed by parent (self-signed
// when parent is nil).
func mustCert(tb testing.TB, tmpl, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*ecdsa.PrivateKey, *x509.Certificate) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl.SerialNumber = new(big.Int).Add(serial, big.NewInt(int64(len(tmpl.Subject.CommonName))+time.Now().UnixNano()))
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return key, cert
}

func writePEM(tb testing.TB, path, typ string, der []byte) {
	tb.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		tb.Fatal(err)
	}
}

func writeKey(tb testing.TB, path string, key *ecdsa.PrivateKey) {
	tb.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	writePEM(tb, path, "PRIVATE KEY", der)
}

// ClientConfig is a TLS configuration that trusts the CA and presents the
// client certificate.
func (f *TLSFiles) ClientConfig(tb testing.TB) *tls.Config {
	tb.Helper()
	pair, err := tls.LoadX509KeyPair(f.ClientCert, f.ClientKey)
	if err != nil {
		tb.Fatal(err)
	}
	return &tls.Config{RootCAs: f.pool, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
}

// ServerArgs are redis-server's TLS arguments: TLS only on port (the plain
// port is off), these certificates, and client certificates optional unless
// authClients is true.
func (f *TLSFiles) ServerArgs(port int, authClients bool) []string {
	auth := "optional"
	if authClients {
		auth = "yes"
	}
	return []string{"--port", "0", "--tls-port", strconv.Itoa(port),
		"--tls-cert-file", f.ServerCert, "--tls-key-file", f.ServerKey, "--tls-ca-cert-file", f.CA,
		"--tls-auth-clients", auth}
}

// TLSRedis is a private redis-server that speaks TLS only.
type TLSRedis struct {
	*Node
	Files *TLSFiles
	// URL is rediss://127.0.0.1:port/0?tls_ca=… (with the client
	// certificate when the server requires one), for redisconn.Parse.
	URL string
}

// TLSRedisOptions adjust StartTLSRedis.
type TLSRedisOptions struct {
	// AuthClients makes the server require a client certificate
	// (tls-auth-clients yes); by default it is optional.
	AuthClients bool
	// Args are more redis-server arguments (e.g. --requirepass).
	Args []string
}

// StartTLSRedis starts a private redis-server that speaks only TLS, with
// certificates from NewTLSFiles, and stops it at the end of the test.
// REDIS_URL does not apply: the test needs a server it configures.
func StartTLSRedis(tb testing.TB, o TLSRedisOptions) *TLSRedis {
	tb.Helper()
	f := NewTLSFiles(tb)
	dir := tb.TempDir()
	cfg := f.ClientConfig(tb)
	n := startNode(tb, dir, func(port int) []string {
		return append(append(f.ServerArgs(port, o.AuthClients), baseArgs(dir)...), o.Args...)
	}, func(addr string) error { return tlsPing(addr, cfg) })
	r := &TLSRedis{Node: n, Files: f, URL: "rediss://" + n.Addr + "/0?tls_ca=" + f.CA}
	if o.AuthClients {
		r.URL += "&tls_cert=" + f.ClientCert + "&tls_key=" + f.ClientKey
	}
	return r
}

// baseArgs are the arguments every private server gets: loopback only, no
// persistence, quiet logs.
func baseArgs(dir string) []string {
	return []string{"--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir,
		"--protected-mode", "no", "--loglevel", "notice"}
}

// tlsPing pings over TLS; NOAUTH counts as an answer.
func tlsPing(addr string, cfg *tls.Config) error {
	d := &net.Dialer{Timeout: 200 * time.Millisecond}
	conn, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	line, err := command(conn, "PING")
	if err != nil && !isNoAuth(err) {
		return err
	}
	if err == nil && line != "+PONG" {
		return fmt.Errorf("unexpected PING answer %q", line)
	}
	return nil
}

func isNoAuth(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "redis: NOAUTH")
}

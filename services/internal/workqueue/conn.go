package workqueue

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

const (
	dialTimeout = 5 * time.Second
	// heartbeat is how often both sides prove the connection is alive. A
	// broker that vanished without closing the TCP connection (a killed
	// node, a cut network) is noticed after about two missed beats instead
	// of the kernel's TCP timeout of many minutes.
	heartbeat = 5 * time.Second
)

// ErrClosed is returned by Publish after Close.
var ErrClosed = errors.New("workqueue: closed")

// dial opens a connection named name (the broker's management UI and logs
// show it, which is how an operator tells a service's connections apart).
func dial(rawURL, name string) (*amqp.Connection, error) {
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName(name)
	conn, err := amqp.DialConfig(rawURL, amqp.Config{
		Heartbeat:  heartbeat,
		Locale:     "en_US",
		Properties: props,
		Dial:       amqp.DefaultDial(dialTimeout),
	})
	if err != nil {
		return nil, fmt.Errorf("workqueue: connect to %s: %w", redact(rawURL), err)
	}
	return conn, nil
}

// redact drops the password from an AMQP URL, for errors and logs.
func redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

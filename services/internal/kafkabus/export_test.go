package kafkabus

// SetBeforeCommit installs a hook that runs after a record's transaction
// committed and before its offset is committed; an error from it makes Run
// return at once, as if the process died there.
func SetBeforeCommit(c *Consumer, hook func(Message) error) { c.beforeCommit = hook }

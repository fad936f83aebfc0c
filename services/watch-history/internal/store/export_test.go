package store

// VideoLockSpace exposes the advisory lock key space to the tests, which
// watch pg_locks to order two transactions.
const VideoLockSpace = videoLockSpace

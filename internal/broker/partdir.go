package broker

// Partition directories and the topic they belong to.
//
// Every partition directory holds a partition.metadata file naming the
// topic id it was created for, in Kafka's format:
//
//	version: 0
//	topic_id: <the id, URL-safe base64 without padding>
//
// A topic is only ever served from directories that carry its own id, so a
// re-created topic (same name, new id) can never adopt what a deleted one
// left behind. A directory without the file was made by an older samsa: the
// topic of that name adopts it and the file is written (the upgrade path).
// A directory naming another id is set aside as *-stray, never deleted.
//
// Deleting a topic renames each of its directories to
// <topic>-<partition>.<32 hex digits>-delete (Kafka's form), fsyncs the data
// directory, and only then removes the files, in the background; Open
// removes any *-delete directory a crash left. After the rename nothing can
// open the data under a topic's name again.

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/samsa-io/samsa/internal/metadata"
)

// partitionMetadataFile is the on-disk name (Kafka's); do not change.
const partitionMetadataFile = "partition.metadata"

// deleteSuffix ends the name of a directory being deleted.
const deleteSuffix = "-delete"

var errBadPartitionMetadata = errors.New("malformed partition.metadata")

// readPartitionMetadata returns the topic id in dir's partition.metadata;
// found is false when the file does not exist.
func readPartitionMetadata(dir string) (id metadata.TopicID, found bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, partitionMetadataFile))
	if errors.Is(err, os.ErrNotExist) {
		return id, false, nil
	}
	if err != nil {
		return id, false, err
	}
	id, err = parsePartitionMetadata(b)
	return id, true, err
}

// parsePartitionMetadata parses partition.metadata's content: "version: 0"
// and "topic_id: <id>" lines, in any order.
func parsePartitionMetadata(b []byte) (id metadata.TopicID, err error) {
	var version, topicID string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			return id, fmt.Errorf("%w: line %q", errBadPartitionMetadata, sc.Text())
		}
		switch strings.TrimSpace(k) {
		case "version":
			version = strings.TrimSpace(v)
		case "topic_id":
			topicID = strings.TrimSpace(v)
		}
	}
	if err := sc.Err(); err != nil {
		return id, fmt.Errorf("%w: %w", errBadPartitionMetadata, err)
	}
	if version != "0" {
		return id, fmt.Errorf("%w: version %q", errBadPartitionMetadata, version)
	}
	if err := id.UnmarshalText([]byte(topicID)); err != nil {
		return id, fmt.Errorf("%w: %w", errBadPartitionMetadata, err)
	}
	return id, nil
}

// writePartitionMetadata creates dir if needed and writes its
// partition.metadata durably: temp file, fsync, rename, fsync of dir and of
// its parent (which holds dir's own entry when dir is new).
func writePartitionMetadata(dir string, id metadata.TopicID) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	path := filepath.Join(dir, partitionMetadataFile)
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(f, "version: 0\ntopic_id: %s\n", id)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err == nil {
		err = syncDir(filepath.Dir(dir))
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// preparePartitionDir makes dir ready to be opened as a partition of the
// topic with id: it carries that id, or is new and gets it. See the file
// comment for the rules.
func (b *Broker) preparePartitionDir(dir string, id metadata.TopicID) error {
	if st, err := os.Stat(dir); err == nil && !st.IsDir() {
		return fmt.Errorf("%s is in the way of a partition directory: it is not a directory", dir)
	}
	got, found, err := readPartitionMetadata(dir)
	if err != nil && !errors.Is(err, errBadPartitionMetadata) {
		return err // an I/O error: the caller fails the open, nothing is moved
	}
	switch {
	case err == nil && found && got == id:
		return nil
	case err == nil && !found:
		if _, serr := os.Stat(dir); serr == nil {
			b.lg.Info("partition directory has no partition.metadata (written by an older samsa); recording its topic id",
				"dir", dir, "topic_id", id)
		}
	default:
		reason := "it belongs to another topic id (a deleted topic of the same name)"
		if err != nil {
			reason = err.Error()
		}
		stray, rerr := setAside(dir)
		if rerr != nil {
			return fmt.Errorf("partition directory %s cannot be used (%s) nor set aside: %w", dir, reason, rerr)
		}
		b.lg.Warn("set aside a partition directory that is not this topic's; delete it when you are sure it is not needed",
			"dir", stray, "reason", reason, "found_topic_id", got, "topic_id", id)
	}
	return writePartitionMetadata(dir, id)
}

// setAside renames dir to "<dir>.<unix-nanos>-stray" (durably) and returns
// the new name.
func setAside(dir string) (string, error) {
	stray := fmt.Sprintf("%s.%d-stray", dir, time.Now().UnixNano())
	if err := os.Rename(dir, stray); err != nil {
		return "", err
	}
	return stray, syncDir(filepath.Dir(dir))
}

// renameForDelete renames a partition directory to Kafka's
// <topic>-<partition>.<32 hex>-delete form and returns the new path. The
// caller fsyncs the parent once for all of them.
func renameForDelete(dir string) (string, error) {
	var u [16]byte
	_, _ = rand.Read(u[:])
	dead := dir + "." + hex.EncodeToString(u[:]) + deleteSuffix
	if err := os.Rename(dir, dead); err != nil {
		return "", err
	}
	return dead, nil
}

// removeDeleted removes directories renamed for deletion, logging failures
// (an operator can remove them by hand; nothing will open them).
func (b *Broker) removeDeleted(dirs []string) {
	for _, d := range dirs {
		if err := os.RemoveAll(d); err != nil {
			b.lg.Warn("could not remove a deleted partition's files; nothing uses them, remove the directory by hand", "dir", d, "err", err)
		}
	}
}

// leftoverDeletes lists the *-delete directories in the data directory.
func (b *Broker) leftoverDeletes() []string {
	entries, err := os.ReadDir(b.cfg.DataDir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() && strings.HasSuffix(e.Name(), deleteSuffix) {
			out = append(out, filepath.Join(b.cfg.DataDir, e.Name()))
		}
	}
	return out
}

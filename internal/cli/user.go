package cli

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// envUserPassword supplies `samsa user create`'s password when --password
// is not given, so that it stays out of ps and shell history.
const envUserPassword = "SAMSA_USER_PASSWORD"

var scramMechanisms = map[string]kadm.ScramMechanism{"SCRAM-SHA-256": kadm.ScramSha256, "SCRAM-SHA-512": kadm.ScramSha512}

func parseMechanisms(in []string) ([]kadm.ScramMechanism, []string, error) {
	var out []kadm.ScramMechanism
	var names []string
	for _, v := range in {
		for _, m := range strings.Split(v, ",") {
			m = strings.ToUpper(strings.TrimSpace(m))
			if m == "" {
				continue
			}
			sm, ok := scramMechanisms[m]
			if !ok {
				return nil, nil, usageErrorf("--mechanism %s: use SCRAM-SHA-256 or SCRAM-SHA-512", m)
			}
			if !slices.Contains(out, sm) {
				out, names = append(out, sm), append(names, m)
			}
		}
	}
	return out, names, nil
}

func newUserCommand(g *globalOptions) *cobra.Command {
	c := &cobra.Command{
		Use:     "user",
		Aliases: []string{"users"},
		Short:   "Create, list and delete SCRAM users",
		Long: `Manage the SCRAM users clients log in with (SASL SCRAM-SHA-256 and
SCRAM-SHA-512), as kafka-configs.sh --entity-type users does. The broker
stores only salted keys (RFC 5802), never the password; these are Kafka's
AlterUserScramCredentials and DescribeUserScramCredentials requests, and
changing users needs ALTER on the cluster (a super user).

PLAIN users are not managed here: they are the user_<name>="<password>"
options of a listener's JAAS entry in the broker's properties.`,
		Args: cobra.ArbitraryArgs,
		RunE: groupRunE,
	}
	c.AddCommand(newUserCreateCommand(g), newUserListCommand(g), newUserDeleteCommand(g))
	return c
}

func newUserCreateCommand(g *globalOptions) *cobra.Command {
	var (
		password   string
		mechanisms []string
		iterations int32
	)
	c := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a SCRAM user, or set a new password",
		Long: `Create a SCRAM user (or replace its password) for each --mechanism
(default SCRAM-SHA-512). The new user's password comes from --new-password,
else the ` + envUserPassword + ` environment variable, else one line read from
stdin. (--user and --password are how this command itself logs in.)`,
		Example: `  samsa user create alice --new-password alice-secret --user admin --password admin-secret
  SAMSA_USER_PASSWORD=s3cret samsa user create app --mechanism SCRAM-SHA-256,SCRAM-SHA-512
  samsa user create app --command-config admin.properties < password.txt`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			mechs, names, err := parseMechanisms(mechanisms)
			if err != nil {
				return err
			}
			if len(mechs) == 0 {
				mechs, names = []kadm.ScramMechanism{kadm.ScramSha512}, []string{"SCRAM-SHA-512"}
			}
			if iterations < 4096 || iterations > 16384 {
				return usageErrorf("--iterations %d: Kafka accepts 4096 to 16384", iterations)
			}
			if password == "" {
				password = os.Getenv(envUserPassword)
			}
			if password == "" {
				line, err := readLine(cmd)
				if err != nil || line == "" {
					return usageErrorf("no password for the new user: give --new-password, set %s, or write it on stdin", envUserPassword)
				}
				password = line
			}
			adm, err := g.newAdmin(cmd.Context())
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := withTimeout(cmd.Context(), g)
			defer cancel()
			var ups []kadm.UpsertSCRAM
			for _, m := range mechs {
				ups = append(ups, kadm.UpsertSCRAM{User: name, Mechanism: m, Iterations: iterations, Password: password})
			}
			res, err := adm.AlterUserSCRAMs(ctx, nil, ups)
			if err != nil {
				return requestError("create user "+name, err)
			}
			if err := userResultError(name, res); err != nil {
				return err
			}
			fmt.Fprintf(stdout(cmd), "user %q: %s credentials set (%d iterations)\n", name, strings.Join(names, ", "), iterations)
			return nil
		},
	}
	c.Flags().StringVar(&password, "new-password", "", "the new user's password (better: env "+envUserPassword+" or stdin)")
	c.Flags().StringSliceVar(&mechanisms, "mechanism", nil, "SCRAM-SHA-256 and/or SCRAM-SHA-512 (default SCRAM-SHA-512; repeat or comma-separate)")
	c.Flags().Int32Var(&iterations, "iterations", 4096, "PBKDF2 iterations (4096 to 16384)")
	return c
}

func readLine(cmd *cobra.Command) (string, error) {
	buf := make([]byte, 0, 256)
	b := make([]byte, 1)
	for len(buf) < 4096 {
		n, err := cmd.InOrStdin().Read(b)
		if n == 1 {
			if b[0] == '\n' {
				break
			}
			buf = append(buf, b[0])
		}
		if err != nil {
			break
		}
	}
	return strings.TrimRight(string(buf), "\r"), nil
}

func userResultError(name string, res kadm.AlteredUserSCRAMs) error {
	for _, r := range res {
		if r.Err == nil {
			continue
		}
		msg := r.ErrMessage
		switch {
		case errors.Is(r.Err, kerr.ResourceNotFound):
			return fmt.Errorf("user %q has no such credential (RESOURCE_NOT_FOUND)%w", name, silentWrap{r.Err})
		case errors.Is(r.Err, kerr.ClusterAuthorizationFailed):
			return fmt.Errorf("not authorized to change users (CLUSTER_AUTHORIZATION_FAILED): it needs ALTER on the cluster; log in as a super user%w", silentWrap{r.Err})
		case msg != "":
			return fmt.Errorf("user %q: %s (%v)%w", name, msg, r.Err, silentWrap{r.Err})
		}
		return fmt.Errorf("user %q: %w", name, r.Err)
	}
	return nil
}

func newUserListCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:     "list [NAME...]",
		Aliases: []string{"ls", "describe"},
		Short:   "List SCRAM users and their mechanisms",
		Example: `  samsa user list
  samsa user list alice bob`,
		RunE: func(cmd *cobra.Command, args []string) error {
			adm, err := g.newAdmin(cmd.Context())
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := withTimeout(cmd.Context(), g)
			defer cancel()
			described, err := adm.DescribeUserSCRAMs(ctx, args...)
			if err != nil {
				if errors.Is(err, kerr.ClusterAuthorizationFailed) {
					return fmt.Errorf("not authorized to list users (CLUSTER_AUTHORIZATION_FAILED): it needs DESCRIBE on the cluster%w", silentWrap{err})
				}
				return requestError("list users", err)
			}
			t := newTable(stdout(cmd), "USER", "MECHANISM", "ITERATIONS")
			var errs []error
			for _, d := range described.Sorted() {
				if d.Err != nil {
					if errors.Is(d.Err, kerr.ResourceNotFound) {
						errs = append(errs, fmt.Errorf("user %q does not exist", d.User))
					} else {
						errs = append(errs, fmt.Errorf("user %q: %w", d.User, d.Err))
					}
					continue
				}
				for _, ci := range d.CredInfos {
					t.row(d.User, ci.Mechanism, ci.Iterations)
				}
			}
			if err := t.flush(); err != nil {
				return err
			}
			return errors.Join(errs...)
		},
	}
}

func newUserDeleteCommand(g *globalOptions) *cobra.Command {
	var mechanisms []string
	c := &cobra.Command{
		Use:     "delete NAME",
		Aliases: []string{"rm"},
		Short:   "Delete a SCRAM user's credentials",
		Long:    `Delete the user's credential for each --mechanism (default: every mechanism it has).`,
		Example: `  samsa user delete alice
  samsa user delete alice --mechanism SCRAM-SHA-256`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			mechs, _, err := parseMechanisms(mechanisms)
			if err != nil {
				return err
			}
			adm, err := g.newAdmin(cmd.Context())
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := withTimeout(cmd.Context(), g)
			defer cancel()
			if len(mechs) == 0 {
				d, err := adm.DescribeUserSCRAMs(ctx, name)
				if err != nil {
					return requestError("delete user "+name, err)
				}
				if e := d[name].Err; e != nil {
					if errors.Is(e, kerr.ResourceNotFound) {
						return fmt.Errorf("user %q does not exist%w", name, silentWrap{e})
					}
					return fmt.Errorf("user %q: %w", name, e)
				}
				for _, ci := range d[name].CredInfos {
					mechs = append(mechs, ci.Mechanism)
				}
			}
			var dels []kadm.DeleteSCRAM
			for _, m := range mechs {
				dels = append(dels, kadm.DeleteSCRAM{User: name, Mechanism: m})
			}
			res, err := adm.AlterUserSCRAMs(ctx, dels, nil)
			if err != nil {
				return requestError("delete user "+name, err)
			}
			if err := userResultError(name, res); err != nil {
				return err
			}
			fmt.Fprintf(stdout(cmd), "user %q deleted\n", name)
			return nil
		},
	}
	c.Flags().StringSliceVar(&mechanisms, "mechanism", nil, "delete only these mechanisms' credentials")
	return c
}

// pgJDBC client program for the replay fidelity tests: what a Java service
// typically does to PostgreSQL through pgJDBC.
//
// It connects with the PG* variables the test sets and exits non-zero on any
// failure it did not mean to cause.
import java.sql.BatchUpdateException;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Types;
import java.util.Properties;

public class Main {
    static Connection connect(String app) throws SQLException {
        String url = "jdbc:postgresql://" + System.getenv("PGHOST") + ":" + System.getenv("PGPORT") + "/" + System.getenv("PGDATABASE");
        Properties p = new Properties();
        p.setProperty("user", System.getenv("PGUSER"));
        p.setProperty("ApplicationName", app);
        return DriverManager.getConnection(url, p);
    }

    public static void main(String[] args) throws Exception {
        try (Connection c = connect("pgjdbc-main")) {
            reusedStatements(c);
            optionalFilters(c);
            batchWithFailingRow(c);
            rolledBackTransaction(c);
            errorsAtParseAndBind(c);
        }
    }

    // A PreparedStatement executed past prepareThreshold (5) becomes the
    // named server statement S_n.
    static void reusedStatements(Connection c) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT name, balance FROM accounts WHERE id = ?")) {
            for (int i = 1; i <= 8; i++) {
                ps.setLong(1, i);
                try (ResultSet rs = ps.executeQuery()) {
                    if (!rs.next()) {
                        throw new IllegalStateException("account " + i + " missing");
                    }
                }
            }
        }
    }

    // "? IS NULL" works only because pgJDBC declares the parameter's type:
    // setNull(i, VARCHAR) and setString are varchar.
    static void optionalFilters(Connection c) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT count(*) FROM events WHERE (? IS NULL OR kind = ?) AND account_id = ?")) {
            for (int i = 0; i < 8; i++) {
                if (i % 2 == 0) {
                    ps.setNull(1, Types.VARCHAR);
                    ps.setNull(2, Types.VARCHAR);
                } else {
                    ps.setString(1, "click");
                    ps.setString(2, "click");
                }
                ps.setLong(3, 1 + i);
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                }
            }
        }
    }

    // executeBatch in autocommit: all rows before one Sync, one implicit
    // transaction. A duplicate key rolls the whole batch back; the retry
    // without the bad row commits.
    static void batchWithFailingRow(Connection c) throws SQLException {
        String sql = "INSERT INTO tags (id, name) VALUES (?, ?)";
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            for (int id : new int[] {101, 102, 1, 103}) { // tag 1 exists
                ps.setInt(1, id);
                ps.setString(2, "batch-" + id);
                ps.addBatch();
            }
            try {
                ps.executeBatch();
                throw new IllegalStateException("the batch with a duplicate key succeeded");
            } catch (BatchUpdateException expected) {
                if (!"23505".equals(expected.getSQLState())) {
                    throw expected;
                }
            }
            for (int id : new int[] {101, 102, 103}) {
                ps.setInt(1, id);
                ps.setString(2, "batch-" + id);
                ps.addBatch();
            }
            ps.executeBatch();
        }
        try (PreparedStatement ps = c.prepareStatement("SELECT count(*) FROM tags WHERE id BETWEEN 101 AND 103");
             ResultSet rs = ps.executeQuery()) {
            rs.next();
            if (rs.getInt(1) != 3) {
                throw new IllegalStateException("retried batch: " + rs.getInt(1) + " rows, want 3");
            }
        }
    }

    static void rolledBackTransaction(Connection c) throws SQLException {
        c.setAutoCommit(false);
        try (PreparedStatement up = c.prepareStatement("UPDATE accounts SET balance = balance - ? WHERE id = ?");
             PreparedStatement ins = c.prepareStatement("INSERT INTO events (account_id, kind, payload) VALUES (?, ?, ?)")) {
            up.setBigDecimal(1, new java.math.BigDecimal("12.50"));
            up.setLong(2, 3);
            up.executeUpdate();
            ins.setLong(1, 3);
            ins.setString(2, "buy");
            ins.setString(3, "it's rolled back");
            ins.executeUpdate();
            c.rollback();
            up.setBigDecimal(1, new java.math.BigDecimal("1.25"));
            up.setLong(2, 4);
            up.executeUpdate();
            c.commit();
        } finally {
            c.setAutoCommit(true);
        }
    }

    // Errors a careless service gets from pgJDBC: a varchar compared with a
    // bigint fails at Parse, a division by a zero parameter at Bind (the
    // unnamed statement is planned with its values).
    static void errorsAtParseAndBind(Connection c) throws SQLException {
        expectError(c, "SELECT name FROM accounts WHERE id = ?", "42883", ps -> ps.setString(1, "7"));
        expectError(c, "SELECT 100 / ?::int", "22012", ps -> ps.setInt(1, 0));
    }

    interface Binder {
        void bind(PreparedStatement ps) throws SQLException;
    }

    static void expectError(Connection c, String sql, String state, Binder b) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            b.bind(ps);
            ps.executeQuery().close();
            throw new IllegalStateException(sql + " succeeded, want " + state);
        } catch (SQLException e) {
            if (!state.equals(e.getSQLState())) {
                throw e;
            }
        }
    }
}

// pgJDBC load for lock-order tests: four threads, each with its own
// connection, update the same three account rows in explicit transactions
// with short think times, so sessions wait for each other's row locks.
// Rows are always locked in ascending id order: waits, never deadlocks.
// Each thread's think times come from a fixed seed.
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.Random;

public class HotRow {
    static final long RUN_MILLIS = 3000;

    public static void main(String[] args) throws Exception {
        String url = "jdbc:postgresql://" + System.getenv("PGHOST") + ":" + System.getenv("PGPORT") + "/" + System.getenv("PGDATABASE");
        List<Thread> threads = new ArrayList<>();
        List<Throwable> failures = new ArrayList<>();
        for (int n = 1; n <= 4; n++) {
            final int worker = n;
            Thread t = new Thread(() -> {
                try {
                    work(url, worker);
                } catch (Throwable e) {
                    synchronized (failures) {
                        failures.add(e);
                    }
                }
            });
            threads.add(t);
            t.start();
        }
        for (Thread t : threads) {
            t.join();
        }
        if (!failures.isEmpty()) {
            for (Throwable e : failures) {
                e.printStackTrace();
            }
            System.exit(1);
        }
    }

    static void work(String url, int worker) throws Exception {
        Properties p = new Properties();
        p.setProperty("user", System.getenv("PGUSER"));
        p.setProperty("ApplicationName", "pgjdbc-hotrow-" + worker);
        Random rnd = new Random(worker);
        try (Connection c = DriverManager.getConnection(url, p);
             PreparedStatement up = c.prepareStatement("UPDATE accounts SET balance = balance + ? WHERE id = ?");
             PreparedStatement read = c.prepareStatement("SELECT sum(balance) FROM accounts WHERE id BETWEEN 1 AND 3")) {
            c.setAutoCommit(false);
            // The clock starts once connected, and every thread runs at
            // least 40 transactions: on a loaded machine the JVM may take
            // seconds to connect.
            long deadline = System.currentTimeMillis() + RUN_MILLIS;
            for (int txns = 0; txns < 40 || System.currentTimeMillis() < deadline; txns++) {
                for (long id = 1; id <= 3; id++) {
                    if (rnd.nextInt(3) == 0) {
                        continue; // not every transaction touches every row
                    }
                    up.setInt(1, worker);
                    up.setLong(2, id);
                    up.executeUpdate();
                    Thread.sleep(1 + rnd.nextInt(4));
                }
                read.executeQuery().close();
                c.commit();
                Thread.sleep(2 + rnd.nextInt(10));
            }
        }
    }
}

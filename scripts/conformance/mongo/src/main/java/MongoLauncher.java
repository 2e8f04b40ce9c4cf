import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.MongoVersion;
import de.bwaldvogel.mongo.backend.Utils;
import de.bwaldvogel.mongo.backend.memory.MemoryBackend;
import de.bwaldvogel.mongo.bson.Document;
import io.netty.channel.Channel;
import java.util.List;

/**
 * mongo-java-server's in-memory backend, dressed as MongoDB 6.0: the suite's
 * MongoDB driver refuses servers older than wire version 17 (6.0), and the
 * suite reads featureCompatibilityVersion through getParameter at start-up,
 * which the memory backend does not answer.
 *
 * Usage: java -cp classes:lib/* MongoLauncher PORT
 */
public class MongoLauncher {
    static class Backend extends MemoryBackend {
        @Override
        public Document handleCommand(Channel channel, String db, String command, Document query) {
            if (command.equalsIgnoreCase("getParameter")) {
                return okay(new Document("featureCompatibilityVersion", new Document("version", "6.0")));
            }
            if (command.equalsIgnoreCase("setFeatureCompatibilityVersion")) {
                return okay(new Document());
            }
            return super.handleCommand(channel, db, command, query);
        }

        private static Document okay(Document reply) {
            Utils.markOkay(reply);
            return reply;
        }
    }

    static class Version6 implements MongoVersion {
        @Override
        public List<Integer> getVersionArray() {
            return List.of(6, 0, 0);
        }

        @Override
        public int getWireVersion() {
            return 17;
        }
    }

    public static void main(String[] args) throws Exception {
        int port = Integer.parseInt(args[0]);
        Backend backend = new Backend();
        backend.version(new Version6());
        MongoServer server = new MongoServer(backend);
        server.bind("127.0.0.1", port);
        System.out.println("mongo-java-server listening on 127.0.0.1:" + port);
        Thread.currentThread().join();
    }
}

// The ragdb executable: all logic lives in RAGDBCLI so it can be tested.
import RAGDBCLI

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

exit(runRAGDB(Array(CommandLine.arguments.dropFirst())))

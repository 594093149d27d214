# An IO::Socket::SSL client: one line echoed by the TLS peer, then, by the first argument,
#   close   closes the socket itself
#   end     closes it in an END block (the program's own code, run by perl_destruct)
#   leave   leaves it in a global for Perl's global destruction to close
use strict;
use warnings;
use IO::Socket::SSL;

my ($how, $port) = @ARGV;
our $sock = IO::Socket::SSL->new(PeerAddr => "127.0.0.1:$port", SSL_verify_mode => SSL_VERIFY_NONE)
    or die "connect: $SSL_ERROR\n";
print $sock "hello\n";
my $line = <$sock>;
print "got $line";
$sock->close() if $how eq "close";
END { $sock->close() if $how eq "end" && $sock; }

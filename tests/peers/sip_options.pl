#!/usr/bin/perl
# Send SIP OPTIONS to HOST:PORT until a final response arrives; print it and exit 0 if it is 2xx.
#
#   sip_options.pl [--transport udp|tcp] [--from-ip IP] [--tries N] [--interval-ms MS] [--quiet] HOST:PORT
#
# Used by tests/integration/call_flow.sh to wait until Kamailio (and sipedge) answer. Plain sockets, no Net::SIP,
# so it also works as an independent probe. Bounded: at most --tries attempts (default 50), each waiting
# --interval-ms (default 100) for an answer. Exit 0: 2xx received; 1: other final response; 3: no answer.
use strict;
use warnings;
use Getopt::Long qw(GetOptions);
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time sleep);

my %o = (transport => 'udp', 'from-ip' => '127.0.0.1', tries => 50, 'interval-ms' => 100);
GetOptions(\%o, 'transport=s', 'from-ip=s', 'tries=i', 'interval-ms=i', 'quiet') or exit 2;
my $dst = shift @ARGV or die "usage: $0 [options] HOST:PORT\n";
my ($host, $port) = $dst =~ /^([\d.]+):(\d+)$/ or die "HOST:PORT expected\n";
my $tp = $o{transport};
die "--transport udp|tcp\n" unless $tp =~ /^(udp|tcp)$/;

my $pause = sub {    # the rest of this try's interval (a refused UDP port answers with ICMP at once)
    my $left = $o{'interval-ms'} / 1000 - (time - shift);
    sleep($left) if $left > 0;
};
for my $try (1 .. $o{tries}) {
    my $started = time;
    my $sock = IO::Socket::INET->new(
        Proto     => $tp,
        LocalAddr => $o{'from-ip'},
        PeerAddr  => $host,
        PeerPort  => $port,
        ($tp eq 'tcp' ? (Timeout => $o{'interval-ms'} / 1000) : ()),
    );
    if (!$sock) {
        $pause->($started);
        next;
    }
    my $lport = $sock->sockport;
    my $branch = sprintf('z9hG4bK-opt-%d-%d-%d', $$, $try, int(rand(1e9)));
    my $msg = join("\r\n",
        "OPTIONS sip:$host:$port" . ($tp eq 'tcp' ? ';transport=tcp' : '') . " SIP/2.0",
        "Via: SIP/2.0/" . uc($tp) . " $o{'from-ip'}:$lport;branch=$branch;rport",
        "Max-Forwards: 70",
        "From: <sip:probe\@$o{'from-ip'}>;tag=p$$",
        "To: <sip:$host:$port>",
        "Call-ID: opt-$$-$try\@$o{'from-ip'}",
        "CSeq: $try OPTIONS",
        "Accept: application/sdp",
        "Content-Length: 0",
        "", "");
    $sock->send($msg);
    my $sel = IO::Select->new($sock);
    my $deadline = $o{'interval-ms'} / 1000;
    my $buf = '';
    while ($sel->can_read($deadline)) {
        my $chunk;
        my $r = $sock->recv($chunk, 65535);
        last if !defined $r || !defined $chunk || $chunk eq '';
        $buf .= $chunk;
        if ($buf =~ m{^SIP/2\.0 (\d{3})([^\r\n]*)}m) {
            my $code = $1;
            next if $code =~ /^1/;
            print "$code$2\n" unless $o{quiet};
            exit($code =~ /^2/ ? 0 : 1);
        }
        last if $tp eq 'udp';
    }
    close $sock;
    $pause->($started);
}
print "no answer from $tp:$dst after $o{tries} tries\n" unless $o{quiet};
exit 3;

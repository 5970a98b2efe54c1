#!/usr/bin/perl
# A SIP phone for sipedge's integration tests, built on Net::SIP (Debian package libnet-sip-perl).
#
#   phone.pl --local 127.0.0.1:PORT --proxy HOST:PORT [--transport udp|tcp] --user NAME [--domain D] MODE
#
# MODE is one of
#   register-and-answer  register, wait for one call, answer 200, wait for the BYE (or send it with
#                        --hangup-after MS), print events, exit
#   register-and-call    --to USER: register, call USER@DOMAIN, wait for 200, hold --hold MS, send BYE
#                        (or wait for the callee's BYE with --remote-hangup), exit
#   register             register, then exit (with --unregister: unregister again)
#
# Other options:
#   --expires S          registration lifetime (default 300)
#   --hold MS            caller: how long the call is held before BYE (default 500)
#   --hangup-after MS    callee: send BYE MS after the call is established (default: wait for the caller's BYE)
#   --remote-hangup      caller: do not send BYE, wait for the callee's
#   --unregister         after the call, REGISTER again with Expires: 0 and expect 2xx
#   --timeout S          hard limit for the whole run (default 20); exits 3 with "EVENT timeout"
#   --debug N            Net::SIP debug level on stderr (2 = short packet dumps, 5 = full packets)
#   --rport              put ";rport" on the Via of our requests (RFC 3581), as most hardware phones do
#   --register-retries N retry the first REGISTER up to N times when it gets 503 (default 5, 300 ms apart)
#
# Every step prints a machine-readable line on stdout:  EVENT <name> [key=value ...]
#   started, registered, register-retry, register-failed, invite-received, ringing, answered, call-failed,
#   established, bye-sent, bye-ok, bye-failed, bye-received, unregistered, unregister-failed, timeout, done
# Exit status: 0 success, 1 SIP failure, 2 usage error, 3 timeout.
use strict;
use warnings;
use Getopt::Long qw(GetOptions);
use Time::HiRes qw(time);
use Net::SIP;
use Net::SIP::Debug;

$| = 1;
STDERR->autoflush(1);

my %o = (
    transport => 'udp',
    domain    => 'pbx.test',
    expires   => 300,
    hold      => 500,
    timeout   => 20,
    debug     => 0,
    'register-retries' => 5,
);
GetOptions(\%o,
    'local=s', 'proxy=s', 'transport=s', 'user=s', 'domain=s', 'to=s',
    'expires=i', 'hold=i', 'hangup-after=i', 'remote-hangup', 'unregister',
    'timeout=i', 'debug=i', 'register-retries=i', 'rport',
) or usage();
my $mode = shift @ARGV or usage();
usage() if @ARGV;
usage("--local, --proxy and --user are required") unless $o{local} && $o{proxy} && $o{user};
usage("--transport must be udp or tcp") unless $o{transport} =~ /^(udp|tcp)$/;
usage("unknown mode $mode") unless $mode =~ /^(register-and-answer|register-and-call|register)$/;
usage("register-and-call needs --to") if $mode eq 'register-and-call' && !$o{to};

my $t0 = time;
sub event {
    my ($name, %kv) = @_;
    my $line = sprintf("EVENT %s t=%.3f", $name, time - $t0);
    $line .= " $_=" . clean($kv{$_}) for sort keys %kv;
    print "$line\n";
}
sub clean { my $v = shift // ''; $v =~ s/[\r\n]+/ /g; $v =~ s/\s/_/g; return $v }
sub finish { my ($rc, $why) = @_; event('done', rc => $rc, ($why ? (reason => $why) : ())); exit $rc }

$SIG{ALRM} = sub { event('timeout', after => $o{timeout}); finish(3, 'timeout') };
alarm($o{timeout});
$SIG{TERM} = sub { event('terminated'); finish(1, 'SIGTERM') };

Net::SIP::Debug->level($o{debug}) if $o{debug};
Net::SIP::Debug->set_prefix("DEBUG($o{user}):");

my ($laddr, $lport) = $o{local} =~ /^([\d.]+):(\d+)$/ or usage("--local must be IP:PORT");
my ($phost, $pport) = $o{proxy} =~ /^([\w.\-]+):(\d+)$/ or usage("--proxy must be HOST:PORT");
my $tp = $o{transport};
my $tparam = $tp eq 'tcp' ? ';transport=tcp' : '';

# The leg's contact is what Net::SIP puts into the Contact of responses (the callee's 200 OK): it needs the
# transport too, or the ACK/BYE would be sent to the phone over UDP.
my $leg = Net::SIP::Leg->new(proto => $tp, addr => $laddr, port => $lport, contact => "sip:$laddr:$lport$tparam");
# --rport: ask for RFC 3581 symmetric response routing like most hardware phones do (";rport" on our Via).
# Net::SIP has no option for it; its Leg keeps the Via prefix it inserts in the "via" field.
if ($o{rport}) {
    $leg->{via} =~ s/;branch=$/;rport;branch=/ or die "cannot add rport to Via '$leg->{via}'\n";
}
my $proxy_uri = "sip:$phost:$pport$tparam";
my $from = "$o{user} <sip:$o{user}\@$o{domain}>";
# angle brackets: without them ";transport=tcp" would be a Contact header parameter, not a URI parameter
my $contact = "<sip:$o{user}\@$laddr:$lport$tparam>";

my $ua = Net::SIP::Simple->new(
    leg            => $leg,
    outgoing_proxy => $proxy_uri,
    registrar      => "sip:$o{domain}",
    domain         => $o{domain},
    from           => $from,
    contact        => $contact,
);
event('started', local => "$tp:$laddr:$lport", proxy => $proxy_uri, user => $o{user}, mode => $mode);

# ---- registration ----------------------------------------------------------------------------------------------
sub do_register {
    my ($expires) = @_;
    my $result;
    $ua->register(
        expires  => $expires,
        cb_final => sub {
            my ($status, %info) = @_;
            $result = [$status, %info];
        },
    );
    $ua->loop(10, \$result);
    return $result ? @$result : ('FAIL', code => 'no-response');
}

# A freshly started proxy may answer 503 until its first health ping has marked the PBX up: retry a 503 a few
# times (visible as "EVENT register-retry"), nothing else.
my ($st, %ri);
for my $try (1 .. $o{'register-retries'} + 1) {
    ($st, %ri) = do_register($o{expires});
    last if $st eq 'OK' || ($ri{code} // '') ne '503' || $try > $o{'register-retries'};
    event('register-retry', code => $ri{code}, try => $try);
    $ua->loop(0.3);
}
if ($st ne 'OK') {
    event('register-failed', code => $ri{code} // $ri{errno} // '');
    finish(1, 'register failed');
}
event('registered', expires => $ri{expires} // '', contact => $contact);

sub do_unregister {
    my ($st2, %ui) = do_register(0);
    if ($st2 eq 'OK') {
        event('unregistered');
        return 1;
    }
    event('unregister-failed', code => $ui{code} // $ui{errno} // '');
    return 0;
}

if ($mode eq 'register') {
    finish($o{unregister} && !do_unregister() ? 1 : 0);
}

# ---- callee --------------------------------------------------------------------------------------------------
my $ok = 0;
if ($mode eq 'register-and-answer') {
    my ($done, $call_obj, $bye_result);
    $ua->listen(
        cb_create => sub {
            my ($call, $request, $leg, $src) = @_;
            event('invite-received', from => scalar($request->get_header('from')),
                uri => $request->uri,
                src => ref($src) ? Net::SIP::Util::ip_parts2string($src) : $src,
                via_count => scalar(() = $request->get_header('via')),
                record_route => join(',', $request->get_header('record-route')));
            $call_obj = $call;
            return 1;
        },
        cb_established => sub {
            my ($status, $call) = @_;
            event('established');
            event('answered');
            if (defined $o{'hangup-after'}) {
                $ua->add_timer($o{'hangup-after'} / 1000, sub {
                    event('bye-sent');
                    send_bye($call, sub { $bye_result = shift; $done = 1 });
                });
            }
        },
        recv_bye => sub {
            my ($param) = @_;
            event('bye-received');
            $done = 1;
        },
        cb_cleanup => sub { $done ||= 1 },
    );
    event('waiting');
    $ua->loop(\$done);
    if (defined $o{'hangup-after'}) {
        my $code = $bye_result // 'no-response';
        $ok = $code =~ /^2\d\d$/ ? 1 : 0;
        event($ok ? 'bye-ok' : 'bye-failed', code => $code);
    } else {
        $ok = 1;
    }
}

# ---- caller --------------------------------------------------------------------------------------------------
if ($mode eq 'register-and-call') {
    my ($final, $final_code, $bye_recv);
    my $to = $o{to} =~ /\@/ ? $o{to} : "$o{to} <sip:$o{to}\@$o{domain}>";
    my $call = $ua->invite($to,
        cb_preliminary => sub {
            my ($call, $code, $packet) = @_;
            event($code == 180 ? 'ringing' : 'provisional', code => $code);
        },
        cb_final => sub {
            my ($status, $call, %info) = @_;
            $final = $status;
            $final_code = $info{code} // ($info{packet} ? $info{packet}->code : '');
        },
        recv_bye => sub { event('bye-received'); $bye_recv = 1 },
    );
    $ua->loop(15, \$final);
    if (!$final || $final ne 'OK') {
        event('call-failed', code => $final_code // 'no-final-response', error => $ua->error // '');
        finish(1, 'call failed');
    }
    event('answered', code => $final_code // 200);
    if ($o{'remote-hangup'}) {
        $ua->loop(15, \$bye_recv);
        $ok = $bye_recv ? 1 : 0;
        event('bye-wait-failed') unless $ok;
    } else {
        $ua->loop($o{hold} / 1000, \$bye_recv);
        if ($bye_recv) {
            event('unexpected-bye');
        } else {
            my $bye_done;
            my $bye_code = '';
            event('bye-sent');
            send_bye($call, sub { $bye_code = shift; $bye_done = 1 });
            $ua->loop(10, \$bye_done);
            if ($bye_done && $bye_code =~ /^2\d\d$/) {
                event('bye-ok', code => $bye_code);
                $ok = 1;
            } else {
                event('bye-failed', code => $bye_code || 'no-response');
            }
        }
    }
}

if ($o{unregister}) {
    $ok = 0 unless do_unregister();
}
finish($ok ? 0 : 1);

# BYE through Call->request so that the final response code is visible (Call->bye hides it); the callback gets
# the code of the final response, or 'error:ERRNO' when the request timed out or could not be delivered.
sub send_bye {
    my ($call, $cb) = @_;
    $call->request('BYE', undef, cb_final => sub {
        my ($status, $c, $info) = @_;
        my $code = $info && $info->{code} ? $info->{code} : 'error';
        $call->cleanup;
        $cb->($code);
    });
}

sub usage {
    my $msg = shift;
    print STDERR "$msg\n" if $msg;
    print STDERR "usage: $0 --local IP:PORT --proxy HOST:PORT [--transport udp|tcp] --user NAME [--domain D]\n"
        . "          [--to USER] [--hold MS] [--hangup-after MS] [--remote-hangup] [--unregister]\n"
        . "          [--expires S] [--timeout S] [--debug N]  register-and-answer|register-and-call|register\n";
    exit 2;
}

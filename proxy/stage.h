// What a pipeline stage is and what it may decide. A stage has one job; it looks at the message in its Context,
// may edit it, and returns a Verdict: go on, answer (ctx.reply holds the response), drop, or hand the message to
// the worker that owns its transaction. Every verdict but Continue carries a Reason, which the chain counts per
// worker (stats "verdicts"), so each refusal and drop is explainable. Stages never block and never do disk or DNS
// I/O. proxy/pipeline.cpp builds the chains, in one visible order.
#pragma once

#include <memory>
#include <string_view>
#include <vector>

#include "context.h"

namespace sipedge::proxy {

class Stage {
 public:
  virtual ~Stage() = default;
  // Short and stable: it is shown by `sipedge --check-config FILE -v`.
  virtual std::string_view name() const = 0;
  // Before the parse: ctx.raw holds the received bytes, ctx.m is not yet valid. Only ingress stages see this.
  virtual Verdict onReceived(Context&) { return Verdict::next(); }
  virtual Verdict onRequest(Context&) { return Verdict::next(); }
  virtual Verdict onResponse(Context&) { return Verdict::next(); }
};

// An ordered list of stages; the first verdict other than Continue ends the run and is counted.
class Chain {
 public:
  explicit Chain(std::string_view name = {}) : name_(name) {}
  void add(std::unique_ptr<Stage> s) { stages_.push_back(std::move(s)); }
  Verdict received(Context& ctx) const { return run(ctx, &Stage::onReceived); }
  Verdict request(Context& ctx) const { return run(ctx, &Stage::onRequest); }
  Verdict response(Context& ctx) const { return run(ctx, &Stage::onResponse); }
  // The request or the response hook, by what ctx.m is.
  Verdict message(Context& ctx) const { return ctx.m.isRequest() ? request(ctx) : response(ctx); }
  std::string_view name() const { return name_; }
  const std::vector<std::unique_ptr<Stage>>& stages() const { return stages_; }

 private:
  Verdict run(Context& ctx, Verdict (Stage::*hook)(Context&)) const {
    for (const auto& s : stages_) {
      Verdict v = ((*s).*hook)(ctx);
      if (v.action != Action::Continue) {
        ctx.env.counters.verdicts[static_cast<std::size_t>(v.reason)].inc();
        return v;
      }
    }
    return Verdict::next();
  }

  std::string_view name_;
  std::vector<std::unique_ptr<Stage>> stages_;
};

}  // namespace sipedge::proxy

// The pipeline: a chain of small stages, each with one job, each returning Continue or Stop (it replied or
// dropped). Stages never block and never do disk or DNS I/O.
#pragma once

#include <memory>
#include <string_view>
#include <vector>

#include "context.h"

namespace sipedge::proxy {

enum class Verdict : std::uint8_t { Continue, Stop };

class Stage {
 public:
  virtual ~Stage() = default;
  virtual std::string_view name() const = 0;
  virtual Verdict onRequest(Context&) { return Verdict::Continue; }
  virtual Verdict onResponse(Context&) { return Verdict::Continue; }
};

class Pipeline {
 public:
  void add(std::unique_ptr<Stage> s) { stages_.push_back(std::move(s)); }
  Verdict request(Context& ctx) const {
    for (auto& s : stages_)
      if (s->onRequest(ctx) == Verdict::Stop) return Verdict::Stop;
    return Verdict::Continue;
  }
  Verdict response(Context& ctx) const {
    for (auto& s : stages_)
      if (s->onResponse(ctx) == Verdict::Stop) return Verdict::Stop;
    return Verdict::Continue;
  }
  const std::vector<std::unique_ptr<Stage>>& stages() const { return stages_; }

 private:
  std::vector<std::unique_ptr<Stage>> stages_;
};

// The standard request chain (sanity → local answers → hop limits → routing → target → record-route).
Pipeline makeRequestPipeline();
// The standard response chain (sanity → our Via → next Via).
Pipeline makeResponsePipeline();

}  // namespace sipedge::proxy

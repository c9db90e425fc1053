using Google.Protobuf.WellKnownTypes;
using Platform.BuildingBlocks.Errors;
using Platform.Protos.Runners.V1;
using Platform.RunnerRegistry.Domain;

namespace Platform.RunnerRegistry.Grpc;

/// <summary>Proto messages ↔ the context's own types; generated types go no further than the gRPC services.</summary>
internal static class ProtoMapping
{
    public static Timestamp? ToTimestamp(this DateTimeOffset? value) => value is { } v ? Timestamp.FromDateTimeOffset(v) : null;

    public static Timestamp ToTimestamp(this DateTimeOffset value) => Timestamp.FromDateTimeOffset(value);

    public static Runner ToProto(this RunnerView runner, DateTimeOffset now, TimeSpan heartbeatInterval)
    {
        var proto = new Runner
        {
            Id = runner.Id.ToString(),
            Name = runner.Name,
            Capacity = runner.Capacity,
            Executor = string.Join(',', runner.Executors),
            Version = runner.Version,
            State = runner.LivenessAt(now, heartbeatInterval) switch
            {
                RunnerLiveness.Online => RunnerState.Online,
                RunnerLiveness.Draining => RunnerState.Draining,
                _ => RunnerState.Offline,
            },
            LastHeartbeatAt = runner.LastHeartbeatAt.ToTimestamp(),
            RegisteredAt = runner.RegisteredAt.ToTimestamp(),
            RunningJobs = runner.RunningJobs,
        };
        proto.Labels.AddRange(runner.Labels);
        proto.Executors.AddRange(runner.Executors);
        return proto;
    }

    public static JobInfo ToProto(this JobView job)
    {
        var proto = new JobInfo
        {
            JobId = job.JobId.ToString(),
            State = job.Status switch
            {
                JobStatus.Queued => JobState.Queued,
                JobStatus.Leased => JobState.Leased,
                JobStatus.Running => JobState.Running,
                JobStatus.Succeeded => JobState.Succeeded,
                JobStatus.Failed => JobState.Failed,
                JobStatus.Cancelled => JobState.Cancelled,
                _ => JobState.Unspecified,
            },
            Attempt = job.Attempt,
            RunnerId = job.RunnerId?.ToString() ?? "",
            Error = job.Error ?? "",
            OutputTail = job.OutputTail ?? "",
            StartedAt = job.StartedAt.ToTimestamp(),
            FinishedAt = job.FinishedAt.ToTimestamp(),
        };
        if (job.ExitCode is { } exitCode)
        {
            proto.ExitCode = exitCode;
        }

        foreach (var (key, value) in job.Outputs)
        {
            proto.Outputs[key] = value;
        }

        proto.QueueReason = job.QueueReason ?? "";
        return proto;
    }

    public static JobLease ToProto(this GrantedLease lease)
    {
        var spec = new JobSpec
        {
            Image = lease.Spec.Image,
            InputJson = lease.Spec.InputJson,
            Executor = lease.Spec.Executor,
            Resources = new Resources
            {
                CpuRequest = lease.Spec.Resources.CpuRequest,
                CpuLimit = lease.Spec.Resources.CpuLimit,
                MemoryRequest = lease.Spec.Resources.MemoryRequest,
                MemoryLimit = lease.Spec.Resources.MemoryLimit,
            },
        };
        spec.Command.AddRange(lease.Spec.Command);
        foreach (var (key, value) in lease.Spec.Env)
        {
            spec.Env[key] = value;
        }
        spec.RunnerLabels.AddRange(lease.Spec.RunnerLabels);
        return new JobLease
        {
            JobId = lease.JobId.ToString(),
            Attempt = lease.Attempt,
            ExecutionId = lease.ExecutionId.ToString(),
            StepName = lease.StepName,
            StepAttempt = lease.StepAttempt,
            Spec = spec,
            LeaseExpiresAt = lease.LeaseExpiresAt.ToTimestamp(),
            Executor = lease.Executor,
        };
    }

    /// <summary>Validates every job of an EnqueueJobs request, reporting all violations at once.</summary>
    public static IReadOnlyList<NewJob> ToNewJobs(this EnqueueJobsRequest request)
    {
        var violations = new List<FieldViolation>();
        var jobs = new List<NewJob>(request.Jobs.Count);
        for (var i = 0; i < request.Jobs.Count; i++)
        {
            var job = request.Jobs[i];
            var path = $"jobs[{i}]";
            if (!Guid.TryParse(job.JobId, out var jobId))
            {
                violations.Add(new FieldViolation($"{path}.job_id", "must be a UUID"));
            }

            if (!Guid.TryParse(job.ExecutionId, out var executionId))
            {
                violations.Add(new FieldViolation($"{path}.execution_id", "must be a UUID"));
            }

            if (string.IsNullOrWhiteSpace(job.StepName))
            {
                violations.Add(new FieldViolation($"{path}.step_name", "is required"));
            }

            if (job.StepAttempt < 0)
            {
                violations.Add(new FieldViolation($"{path}.step_attempt", "must not be negative"));
            }

            var spec = job.Spec ?? new JobSpec();
            if (spec.Command.Count == 0 && string.IsNullOrWhiteSpace(spec.Image))
            {
                violations.Add(new FieldViolation($"{path}.spec.command", "is required when the job has no image"));
            }

            var executor = spec.Executor.Trim().ToLowerInvariant();
            if (executor.Length > 0 && !Executors.Known.Contains(executor))
            {
                violations.Add(new FieldViolation($"{path}.spec.executor", $"must be empty or one of {string.Join(", ", Executors.Known)}"));
            }
            else if (executor is Executors.Docker or Executors.Kubernetes && string.IsNullOrWhiteSpace(spec.Image))
            {
                violations.Add(new FieldViolation($"{path}.spec.image", $"is required for the {executor} executor"));
            }
            else if (executor is Executors.Process && spec.Command.Count == 0)
            {
                violations.Add(new FieldViolation($"{path}.spec.command", "is required for the process executor"));
            }

            string[] labels = [];
            try
            {
                labels = Labels.Normalize(spec.RunnerLabels, $"{path}.spec.runner_labels");
            }
            catch (ValidationFailedException ex)
            {
                violations.AddRange(ex.Violations);
            }

            jobs.Add(new NewJob(jobId, executionId, job.StepName, job.StepAttempt, new JobSpecification(
                spec.Command.ToArray(),
                spec.Image,
                spec.Env.ToDictionary(e => e.Key, e => e.Value, StringComparer.Ordinal),
                spec.InputJson,
                labels)
            {
                Executor = executor,
                Resources = spec.Resources is { } r
                    ? new JobResources(r.CpuRequest.Trim(), r.CpuLimit.Trim(), r.MemoryRequest.Trim(), r.MemoryLimit.Trim())
                    : JobResources.None,
            }));
        }

        return violations.Count > 0 ? throw new ValidationFailedException(violations) : jobs;
    }

    /// <summary>Validates the lines of an AppendJobLogs request, reporting all violations at once.</summary>
    public static IReadOnlyList<NewLogLine> ToNewLogLines(this AppendJobLogsRequest request)
    {
        var violations = new List<FieldViolation>();
        if (request.Attempt < 1)
        {
            violations.Add(new FieldViolation("attempt", "must be at least 1"));
        }

        if (request.Lines.Count > JobLogLimits.MaxLinesPerAppend)
        {
            violations.Add(new FieldViolation("lines", $"must not hold more than {JobLogLimits.MaxLinesPerAppend} lines"));
        }

        var lines = new List<NewLogLine>(request.Lines.Count);
        for (var i = 0; i < request.Lines.Count && violations.Count < 20; i++)
        {
            var line = request.Lines[i];
            if (line.Sequence < 1)
            {
                violations.Add(new FieldViolation($"lines[{i}].sequence", "must be at least 1"));
            }

            if (!LogStreams.IsFromRunner(line.Stream))
            {
                violations.Add(new FieldViolation($"lines[{i}].stream", "must be 'stdout' or 'stderr'"));
            }

            if (line.Attempt != 0 && line.Attempt != request.Attempt)
            {
                violations.Add(new FieldViolation($"lines[{i}].attempt", "must be the request's attempt (or unset)"));
            }

            lines.Add(new NewLogLine(line.Sequence, line.Stream, line.Text,
                line.Time?.ToDateTimeOffset() ?? DateTimeOffset.UtcNow));
        }

        return violations.Count > 0 ? throw new ValidationFailedException(violations) : lines;
    }

    public static LogLine ToProto(this JobLogLine line) => new()
    {
        Attempt = line.Attempt,
        Sequence = line.Sequence,
        Stream = line.Stream,
        Text = line.Text,
        Time = line.Time.ToTimestamp(),
    };

    public static JobRefKey ToKey(this JobRef job, string field) =>
        new(Guid.TryParse(job.JobId, out var id) ? id : throw new ValidationFailedException(field, "must be a UUID"), job.Attempt);

    public static JobRef ToProto(this JobRefKey job) => new() { JobId = job.JobId.ToString(), Attempt = job.Attempt };
}

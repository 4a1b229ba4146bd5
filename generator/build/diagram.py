"""The architecture diagram of one environment, drawn from its templates.

`from_view` reads the flattened environment (`generator.build.environment`)
and decides what a person draws: the region, the VPC, one box per AZ (from
each subnet's `Fn::Select [i, Fn::GetAZs]`) with its public and private
subnets, NAT gateways and database instances; the load balancer, the Auto
Scaling group, the Fargate service, the cache and the file system inside the
VPC; buckets, functions, queues, topics, tables, repositories and the
pipeline in the region; CloudFront and Route 53 outside it. Edges are the
traffic paths the templates wire: aliases, origins, listeners to target
groups to their targets, security-group rules from the app tier to the data
tier, private route tables to NAT gateways, notifications, subscriptions,
event source mappings, dead-letter queues, pipeline actions.

`to_dot` writes Graphviz's language; `render` lays it out with graphviz-pure
(a port of Graphviz's `dot` shipped as a PyPI wheel, so `make templates`
needs no system package and the SVG is byte-identical on every machine).
No AWS icons: their terms are written for people drawing diagrams, not for
shipping the set inside a tool; colours stand in per service group.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from generator.build.environment import View
from generator.build.intrinsics import Resolver, Zone, references

RENDERER = "graphviz-pure"
COLOURS = {"network": "#8c4fff", "compute": "#ed7100", "data": "#3b48cc", "storage": "#3f8624",
           "integration": "#e7157b", "edge": "#8c4fff", "delivery": "#c925d1", "outside": "#232f3e"}


@dataclass
class Diagram:
    region: str
    clusters: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # id -> (label, parent)
    nodes: dict[str, tuple[str, str, str | None]] = field(default_factory=dict)  # id -> (label, group, cluster)
    edges: list[tuple[str, str, str]] = field(default_factory=list)

    def node(self, nid: str, label: str, group: str, cluster: str | None) -> None:
        self.nodes.setdefault(nid, (label, group, cluster))

    def edge(self, a: str | None, b: str | None, label: str = "") -> None:
        if a in self.nodes and b in self.nodes and a != b and (a, b, label) not in self.edges:
            self.edges.append((a, b, label))

    def az_clusters(self) -> list[str]:
        return sorted(c for c in self.clusters if c.startswith("az"))

    def path(self, *kinds: str) -> bool:
        """Is there a chain of edges through nodes whose labels start with each of `kinds`, in order?"""
        frontier = {n for n, (label, _, _) in self.nodes.items() if label.startswith(kinds[0])}
        for kind in kinds[1:]:
            frontier = {b for a, b, _ in self.edges if a in frontier and self.nodes[b][0].startswith(kind)}
        return bool(frontier)


class _Drawer:
    def __init__(self, view: View, region: str):
        self.view, self.r, self.d = view, Resolver(view.template), Diagram(region)
        self.res = view.resources
        self.d.clusters["region"] = (f"AWS region {region}", None)

    def of(self, *types: str) -> list[str]:
        return sorted(k for k, v in self.res.items() if v.get("Type") in types and self.r.exists(k))

    def name(self, rid: str) -> str:
        file, logical_id = self.view.origin[rid]
        return f"{logical_id}\n({file.removesuffix('.json')} layer)"

    def props(self, rid: str) -> dict:
        return self.res[rid].get("Properties", {})

    def refs(self, value) -> set[str]:
        return references(value) & set(self.res)

    def zone(self, subnet) -> int | None:
        zones = self.r.zones([subnet]) if not isinstance(subnet, list) else self.r.zones(subnet)
        return min(zones) if zones else None

    def draw(self) -> Diagram:
        self._network()
        self._entry()
        self._app_tier()
        self._data_tier()
        self._integration()
        self._delivery()
        self._wiring()
        return self.d

    def _network(self) -> None:
        d = self.d
        for vpc in self.of("AWS::EC2::VPC"):
            d.clusters[vpc] = (f"VPC {self.props(vpc).get('CidrBlock', '')}", "region")
        vpc = next(iter(self.of("AWS::EC2::VPC")), None)
        public_tables = {t for rt in self.of("AWS::EC2::Route") for t in self.refs(self.props(rt).get("RouteTableId"))
                         if self.refs(self.props(rt).get("GatewayId")) & set(self.of("AWS::EC2::InternetGateway"))}
        self.table_of = {}
        for assoc in self.of("AWS::EC2::SubnetRouteTableAssociation"):
            for subnet in self.refs(self.props(assoc).get("SubnetId")):
                self.table_of[subnet] = next(iter(self.refs(self.props(assoc).get("RouteTableId"))), None)
        for subnet in self.of("AWS::EC2::Subnet"):
            zone = self.r.value(self.props(subnet).get("AvailabilityZone"))
            cluster = f"az{zone.index + 1}" if isinstance(zone, Zone) else vpc
            if isinstance(zone, Zone):
                d.clusters.setdefault(cluster, (f"AZ {zone.index + 1} (Fn::GetAZs [{zone.index}])", vpc))
            tier = "public" if self.table_of.get(subnet) in public_tables else "private"
            d.node(subnet, f"{tier} subnet\n{self.props(subnet).get('CidrBlock', '')}", "network", cluster)
        for igw in self.of("AWS::EC2::InternetGateway"):
            d.node(igw, "internet gateway", "network", vpc)
        for nat in self.of("AWS::EC2::NatGateway"):
            subnet = next(iter(self.refs(self.props(nat).get("SubnetId"))), None)
            d.node(nat, "NAT gateway", "network", d.nodes.get(subnet, ("", "", vpc))[2])
        interface = [e for e in self.of("AWS::EC2::VPCEndpoint") if self.props(e).get("VpcEndpointType") == "Interface"]
        gateway = [e for e in self.of("AWS::EC2::VPCEndpoint") if e not in interface]
        if interface:
            azs = {len(self.r.items(self.r.prop(e, "SubnetIds")) or []) for e in interface}
            names = ", ".join(self._service(e) for e in interface)
            d.node("InterfaceEndpoints", f"interface endpoints in {max(azs)} AZ(s)\n{_wrap(names)}", "network", vpc)
        if gateway:
            d.node("GatewayEndpoints", "gateway endpoints\n" + ", ".join(self._service(e) for e in gateway), "network", vpc)
        self.vpc = vpc

    def _service(self, endpoint: str) -> str:
        name = self.props(endpoint).get("ServiceName")
        text = name.get("Fn::Sub", "") if isinstance(name, dict) else str(name)
        text = text[0] if isinstance(text, list) else text
        return text.rsplit("}.", 1)[-1]

    def _entry(self) -> None:
        d = self.d
        d.node("Internet", "users (internet)", "outside", None)
        for zone in self.of("AWS::Route53::HostedZone"):
            d.node(zone, f"Route 53 zone {self.props(zone).get('Name', '')}", "edge", None)
        for dist in self.of("AWS::CloudFront::Distribution"):
            d.node(dist, "CloudFront distribution", "edge", None)
        for acl in self.of("AWS::WAFv2::WebACL"):
            d.node(acl, "WAF web ACL", "edge", None)
        for lb in self.of("AWS::ElasticLoadBalancingV2::LoadBalancer"):
            scheme = self.props(lb).get("Scheme", "internet-facing")
            d.node(lb, f"Application Load Balancer\n({scheme})", "network", self.vpc)

    def _app_tier(self) -> None:
        d = self.d
        for asg in self.of("AWS::AutoScaling::AutoScalingGroup"):
            p = self.props(asg)
            d.node(asg, f"Auto Scaling group\n{p.get('MinSize')}/{p.get('DesiredCapacity', p.get('MinSize'))}/{p.get('MaxSize')} instances", "compute", self.vpc)
        for service in self.of("AWS::ECS::Service"):
            d.node(service, f"ECS Fargate service\n{self.props(service).get('DesiredCount', 1)} task(s)", "compute", self.vpc)
        for fn in self.of("AWS::Lambda::Function"):
            in_vpc = bool(self.props(fn).get("VpcConfig"))
            d.node(fn, f"Lambda {self.name(fn)}", "compute", self.vpc if in_vpc else "region")
        for instance in self.of("AWS::EC2::Instance"):
            zone = self.zone(next(iter(self.refs(self.props(instance).get("SubnetId"))), None))
            d.node(instance, f"EC2 instance {self.view.origin[instance][1]}", "compute", f"az{zone + 1}" if zone is not None else self.vpc)

    def _data_tier(self) -> None:
        d = self.d
        instances = self.of("AWS::RDS::DBInstance")
        for index, db in enumerate(instances):
            zone = self.r.value(self.props(db).get("AvailabilityZone"))
            role = "writer" if index == 0 else "reader"
            cluster = f"az{zone.index + 1}" if isinstance(zone, Zone) and f"az{zone.index + 1}" in d.clusters else self.vpc
            d.node(db, f"Aurora {role}\n{self.props(db).get('DBInstanceClass', '')}", "data", cluster)
        for group in self.of("AWS::ElastiCache::ReplicationGroup"):
            p = self.props(group)
            d.node(group, f"ElastiCache {p.get('Engine', '')}\n{p.get('NumCacheClusters', '?')} x {p.get('CacheNodeType', '')}", "data", self.vpc)
        for fs in self.of("AWS::EFS::FileSystem"):
            d.node(fs, "EFS file system", "storage", self.vpc)
        for table in self.of("AWS::DynamoDB::Table"):
            d.node(table, f"DynamoDB table {self.name(table)}", "data", "region")
        for bucket in self.of("AWS::S3::Bucket"):
            d.node(bucket, f"S3 bucket {self.name(bucket)}", "storage", "region")

    def _integration(self) -> None:
        for topic in self.of("AWS::SNS::Topic"):
            self.d.node(topic, f"SNS topic {self.name(topic)}", "integration", "region")
        for queue in self.of("AWS::SQS::Queue"):
            self.d.node(queue, f"SQS queue {self.name(queue)}", "integration", "region")

    def _delivery(self) -> None:
        for repo in self.of("AWS::ECR::Repository"):
            self.d.node(repo, "ECR repository", "delivery", "region")
        for pipeline in self.of("AWS::CodePipeline::Pipeline"):
            self.d.node(pipeline, "CodePipeline", "delivery", "region")
        for project in self.of("AWS::CodeBuild::Project"):
            self.d.node(project, "CodeBuild project", "delivery", "region")

    def _groups_of(self, rid: str) -> set[str]:
        p = self.props(rid)
        value = [p.get(k) for k in ("SecurityGroups", "SecurityGroupIds", "VpcSecurityGroupIds", "NetworkConfiguration", "VpcConfig")]
        launch = self.refs((p.get("LaunchTemplate") or {}) or (p.get("MixedInstancesPolicy") or {}))
        for lt in launch:
            data = self.props(lt).get("LaunchTemplateData", {})
            value += [data.get("SecurityGroupIds"), data.get("NetworkInterfaces")]
        return self.refs(value) & set(self.of("AWS::EC2::SecurityGroup"))

    def _wiring(self) -> None:
        d, res = self.d, self.res
        for lb in self.of("AWS::ElasticLoadBalancingV2::LoadBalancer"):
            if self.props(lb).get("Scheme", "internet-facing") == "internet-facing":
                d.edge("Internet", lb, "HTTP(S)")
        for association in self.of("AWS::WAFv2::WebACLAssociation"):
            for acl in self.refs(self.props(association).get("WebACLArn")):
                for target in self.refs(self.props(association).get("ResourceArn")):
                    d.edge(acl, target, "filters")
        for dist in self.of("AWS::CloudFront::Distribution"):
            for acl in self.refs(self.props(dist).get("DistributionConfig", {}).get("WebACLId")):
                d.edge(acl, dist, "filters")
            d.edge("Internet", dist, "HTTPS")
            for origin in self.refs(self.props(dist).get("DistributionConfig", {}).get("Origins")):
                d.edge(dist, origin, "origin")
        for policy in self.of("AWS::S3::BucketPolicy"):
            for dist in self.refs(self.props(policy).get("PolicyDocument")) & set(self.of("AWS::CloudFront::Distribution")):
                for bucket in self.refs(self.props(policy).get("Bucket")):
                    d.edge(dist, bucket, "origin (OAC)")
        for record in self.of("AWS::Route53::RecordSet"):
            for zone in self.refs([self.props(record).get("HostedZoneId")]):
                for target in self.refs(self.props(record).get("AliasTarget")):
                    d.edge(zone, target, "alias")
        target_lb = {}
        for listener in self.of("AWS::ElasticLoadBalancingV2::Listener", "AWS::ElasticLoadBalancingV2::ListenerRule"):
            lbs = self.refs(self.props(listener).get("LoadBalancerArn"))
            lbs |= {lb for l in self.refs(self.props(listener).get("ListenerArn")) for lb in self.refs(self.props(l).get("LoadBalancerArn"))}
            for group in self.refs([self.props(listener).get("DefaultActions"), self.props(listener).get("Actions")]):
                target_lb.setdefault(group, set()).update(lbs)
        for consumer in self.of("AWS::AutoScaling::AutoScalingGroup", "AWS::ECS::Service"):
            for group in self.refs([self.props(consumer).get("TargetGroupARNs"), self.props(consumer).get("LoadBalancers")]):
                for lb in target_lb.get(group, ()):
                    d.edge(lb, consumer, "target group")
        apps = self.of("AWS::AutoScaling::AutoScalingGroup", "AWS::ECS::Service", "AWS::Lambda::Function", "AWS::EC2::Instance")
        instances = self.of("AWS::RDS::DBInstance")
        for reader in instances[1:]:  # clients reach the cluster through the writer's endpoint; readers replicate
            d.edge(instances[0], reader, "replicates")
        data = instances[:1] + self.of("AWS::ElastiCache::ReplicationGroup", "AWS::EFS::FileSystem")
        admits = self._admits()
        for db in data:
            groups = self._groups_of(db) or {g for mt in self.of("AWS::EFS::MountTarget") if db in self.refs(self.props(mt).get("FileSystemId"))
                                             for g in self._groups_of(mt)}
            if res[db]["Type"] == "AWS::RDS::DBInstance":
                groups |= {g for c in self.refs(self.props(db).get("DBClusterIdentifier")) for g in self._groups_of(c)}
            for app in apps:
                if any((a, g) in admits for a in self._groups_of(app) for g in groups):
                    d.edge(app, db, "SQL" if "RDS" in res[db]["Type"] else ("Redis" if "Cache" in res[db]["Type"] else "NFS"))
        for subnet, table in self.table_of.items():
            for route in self.of("AWS::EC2::Route"):
                if table in self.refs(self.props(route).get("RouteTableId")):
                    for nat in self.refs(self.props(route).get("NatGatewayId")):
                        d.edge(subnet, nat, "0.0.0.0/0")
        for nat in self.of("AWS::EC2::NatGateway"):
            for igw in self.of("AWS::EC2::InternetGateway"):
                d.edge(nat, igw)
        for endpoint in self.of("AWS::EC2::VPCEndpoint"):
            p = self.props(endpoint)
            if p.get("VpcEndpointType") == "Interface":
                for subnet in self.refs(p.get("SubnetIds")):
                    d.edge(subnet, "InterfaceEndpoints", "AWS APIs")
            else:
                tables = self.refs(p.get("RouteTableIds"))
                for subnet in (s for s, t in self.table_of.items() if t in tables):
                    d.edge(subnet, "GatewayEndpoints", "S3, DynamoDB")
        for bucket in self.of("AWS::S3::Bucket"):
            for target in self.refs(self.props(bucket).get("NotificationConfiguration")):
                d.edge(bucket, target, "object events")
        for sub in self.of("AWS::SNS::Subscription"):
            for topic in self.refs(self.props(sub).get("TopicArn")):
                for endpoint in self.refs(self.props(sub).get("Endpoint")):
                    d.edge(topic, endpoint, "subscription")
        for mapping in self.of("AWS::Lambda::EventSourceMapping"):
            for source in self.refs(self.props(mapping).get("EventSourceArn")):
                for fn in self.refs(self.props(mapping).get("FunctionName")):
                    d.edge(source, fn, "poll")
        for rid in self.of("AWS::SQS::Queue", "AWS::Lambda::Function", "AWS::Lambda::EventInvokeConfig"):
            p = self.props(rid)
            for dlq in self.refs([p.get("RedrivePolicy"), p.get("DeadLetterConfig"), p.get("DestinationConfig")]):
                d.edge(rid, dlq, "dead letters")
        for fn in self.of("AWS::Lambda::Function"):
            for target in self.refs(self.props(fn).get("Environment")):
                d.edge(fn, target, "calls")
        for consumer in self.of("AWS::ECS::Service", "AWS::CodeBuild::Project", "AWS::CodePipeline::Pipeline"):
            for target in self.refs(self.props(consumer)) & set(d.nodes):
                if res[target]["Type"] in ("AWS::ECR::Repository", "AWS::CodeBuild::Project", "AWS::ECS::Service"):
                    d.edge(consumer, target, "deploys" if "Pipeline" in res[consumer]["Type"] else "uses")
        for service in self.of("AWS::ECS::Service"):
            for task in self.refs(self.props(service).get("TaskDefinition")):
                for repo in self.refs(self.props(task).get("ContainerDefinitions")) & set(self.of("AWS::ECR::Repository")):
                    d.edge(repo, service, "image")

    def _admits(self) -> set[tuple[str, str]]:
        """(source group, destination group) pairs some ingress rule allows."""
        pairs = set()
        for rule in self.of("AWS::EC2::SecurityGroupIngress"):
            p = self.props(rule)
            for source in self.refs(p.get("SourceSecurityGroupId")):
                for target in self.refs(p.get("GroupId")):
                    pairs.add((source, target))
        for group in self.of("AWS::EC2::SecurityGroup"):
            for rule in self.props(group).get("SecurityGroupIngress", []) or []:
                for source in self.refs(rule.get("SourceSecurityGroupId") if isinstance(rule, dict) else None):
                    pairs.add((source, group))
        return pairs


def _wrap(text: str, width: int = 40) -> str:
    lines, line = [], ""
    for word in text.split(", "):
        if line and len(line) + len(word) > width:
            lines.append(line + ",")
            line = word
        else:
            line = f"{line}, {word}" if line else word
    return "\n".join([*lines, line])


def from_view(view: View, region: str) -> Diagram:
    return _Drawer(view, region).draw()


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(d: Diagram, title: str = "") -> str:
    children: dict[str | None, list[str]] = {}
    for cid, (_, parent) in sorted(d.clusters.items()):
        children.setdefault(parent, []).append(cid)
    members: dict[str | None, list[str]] = {}
    for nid, (_, _, cluster) in sorted(d.nodes.items()):
        members.setdefault(cluster if cluster in d.clusters else None, []).append(nid)
    out = ["digraph architecture {", '  graph [rankdir=LR, fontname="Arimo", fontsize=12, compound=true, newrank=true, '
           f'label={_quote(title)}, labelloc=t, nodesep=0.25, ranksep=0.6];',
           '  node [fontname="Arimo", fontsize=10, shape=box, style="rounded,filled", fillcolor=white, penwidth=1.5];',
           '  edge [fontname="Arimo", fontsize=8, color="#545b64"];']

    def emit(cluster: str | None, depth: int) -> None:
        pad = "  " * depth
        for nid in members.get(cluster, []):
            label, group, _ = d.nodes[nid]
            out.append(f"{pad}{_quote(nid)} [label={_quote(label)}, color={_quote(COLOURS[group])}];")
        for child in children.get(cluster, []):
            style = "dashed" if child.startswith("az") else "rounded"
            out.append(f"{pad}subgraph {_quote('cluster_' + child)} {{ label={_quote(d.clusters[child][0])}; style={style}; color=\"#7d8998\";")
            emit(child, depth + 1)
            out.append(f"{pad}}}")

    emit(None, 1)
    # sorted: edges are found by walking sets of references, whose order varies between runs
    out += [f"  {_quote(a)} -> {_quote(b)}" + (f" [label={_quote(label)}]" if label else "") + ";" for a, b, label in sorted(d.edges)]
    out.append("}")
    return "\n".join(out) + "\n"


def renderer() -> str | None:
    """graphviz-pure beside the running Python (the venv's bin/), else on PATH."""
    beside = Path(sys.executable).parent / RENDERER
    return str(beside) if beside.is_file() else shutil.which(RENDERER)


def start_render(dot: str, fmt: str = "svg") -> subprocess.Popen | None:
    """Start laying out `dot` in a child process (the build collects it after linting); None without a renderer."""
    program = renderer()
    if program is None:
        return None
    process = subprocess.Popen([program, f"-T{fmt}"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdin is not None
    process.stdin.write(dot.encode())
    process.stdin.close()
    return process


def finish_render(process: subprocess.Popen | None) -> bytes | None:
    if process is None:
        return None
    assert process.stdout is not None and process.stderr is not None
    data, error = process.stdout.read(), process.stderr.read()
    if process.wait() != 0:
        raise RuntimeError(f"{RENDERER} failed: {error.decode(errors='replace').strip()}")
    return data


def render(dot: str, fmt: str = "svg") -> bytes | None:
    return finish_render(start_render(dot, fmt))

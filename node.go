package rampart

// LocalNode names the machine `rampart serve` runs on. Per-node desired
// state (SSH keys, firewall rules) is addressed by node so that the agents
// of a fleet can later take theirs over without a schema change; today
// there is one node, and this is its name.
const LocalNode = "local"
